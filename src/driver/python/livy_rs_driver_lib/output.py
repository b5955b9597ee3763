"""Statement outputs in the shapes Apache Livy 0.9 produces, the output cap, and the capture of
sys.stdout/sys.stderr while Python code runs."""

import io
import sys
import threading


# --------------------------------------------------------------------------------------------
# Statement output (Livy's shapes)
# --------------------------------------------------------------------------------------------

class Ok(object):
    def __init__(self, data):
        self.data = data


class Err(object):
    def __init__(self, ename, evalue, traceback_lines=()):
        self.ename = ename
        self.evalue = evalue
        self.traceback = list(traceback_lines)


def livy_output(execution_count, res):
    if isinstance(res, Ok):
        return {"status": "ok", "execution_count": execution_count, "data": res.data}
    return {"status": "error", "execution_count": execution_count, "ename": res.ename,
            "evalue": res.evalue, "traceback": res.traceback}


def truncate_text(text, cap):
    """Caps `text` at `cap` UTF-8 bytes, ending it with a visible marker line."""
    if cap is None or cap <= 0 or not isinstance(text, str):
        return text
    raw = text.encode("utf-8", "replace")
    if len(raw) <= cap:
        return text
    kept = raw[:cap].decode("utf-8", "ignore")
    return "%s\n...[output truncated by livy-rs: %d bytes total]" % (kept, len(raw))


def cap_output(output, cap):
    """Applies the output cap to the text parts of a Livy output object."""
    if output.get("status") == "ok":
        data = output.get("data")
        if isinstance(data, dict) and isinstance(data.get("text/plain"), str):
            data["text/plain"] = truncate_text(data["text/plain"], cap)
    else:
        output["evalue"] = truncate_text(output.get("evalue"), cap)
        tb = output.get("traceback") or []
        total, kept = 0, []
        for line in tb:
            n = len(str(line).encode("utf-8", "replace"))
            if cap and total + n > cap:
                full = sum(len(str(x).encode("utf-8", "replace")) for x in tb)
                kept.append("...[output truncated by livy-rs: %d bytes total]" % full)
                break
            total += n
            kept.append(line)
        output["traceback"] = kept
    return output


# --------------------------------------------------------------------------------------------
# Output capture (sys.stdout / sys.stderr while Python code runs)
# --------------------------------------------------------------------------------------------

class _DecodingStringIO(io.StringIO):
    def write(self, s):
        if isinstance(s, (bytes, bytearray)):
            s = bytes(s).decode("utf-8", "replace")
        return super(_DecodingStringIO, self).write(s)

    def isatty(self):
        return False


class OutputCapture(object):
    """Replaces sys.stdout/sys.stderr for good, like Livy's fake_shell: whatever is printed
    between two Python statements (say by a background thread) shows up in the next one."""

    def __init__(self):
        self._lock = threading.Lock()
        sys.stdin = io.StringIO()
        sys.stdout = _DecodingStringIO()
        sys.stderr = _DecodingStringIO()

    def take(self):
        with self._lock:
            out, err = sys.stdout, sys.stderr
            sys.stdout = _DecodingStringIO()
            sys.stderr = _DecodingStringIO()
        return out.getvalue(), err.getvalue()
