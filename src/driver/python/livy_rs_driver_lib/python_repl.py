"""The pyspark kind: Python statements with Livy's fake_shell semantics (the last expression
echoed, the %table/%json/%matplot magics, tracebacks without the driver's frames)."""

import ast
import base64
import datetime
import decimal
import io
import json
import re
import sys
import traceback

from .channel import dumps, json_safe
from .output import Err, Ok


# --------------------------------------------------------------------------------------------
# pyspark: Livy's fake_shell semantics
# --------------------------------------------------------------------------------------------

class UnknownMagic(Exception):
    pass


# Its traceback line reads "UnknownMagic: ..." as in Livy: the traceback module prefixes the
# module name of an exception class not defined in __main__ (where the one-file driver had it).
UnknownMagic.__module__ = "__main__"


class _UserCodeFailed(Exception):
    def __init__(self, exc_info):
        Exception.__init__(self)
        self.exc_info = exc_info


_TOP_FRAME = re.compile(r'\s*File "<stdin>".*in <module>')


def python_error(exc_type, exc_value, tb):
    """Livy's error reply: the traceback without the frames above the user's <stdin> module."""
    lines = traceback.format_exception(exc_type, exc_value, tb, chain=False)
    for i, line in enumerate(lines):
        if _TOP_FRAME.match(line):
            lines = lines[:1] + lines[i + 1:]
            break
    return Err(str(exc_type.__name__), str(exc_value), lines)


def _table_type_error(exc_type, exc_value):
    """fake_shell's magics return an *error reply* as if it were data, so Livy reports status
    "ok" with {"msg_type": "execute_reply", "content": {...error...}} as data. Kept as is."""
    if not isinstance(exc_value, BaseException):
        exc_value = exc_type(exc_value)  # fake_shell passes a bare string here
    err = python_error(exc_type, exc_value, None)
    return {"msg_type": "execute_reply",
            "content": {"ename": err.ename, "evalue": err.evalue, "traceback": err.traceback,
                        "status": "error"}}


class _CodeBlock(object):
    """Normal Python code: all statements but the last run in 'exec' mode, the last one in
    'single' mode so a trailing expression is echoed (repr) like at a Python prompt."""

    def __init__(self, code):
        self.tree = compile(code, "<stdin>", "exec", ast.PyCF_ONLY_AST, 1)

    def run(self, namespace):
        body = self.tree.body
        try:
            for node in body[:-1]:
                exec(compile(ast.Module([node], []), "<stdin>", "exec"), namespace)
            for node in body[-1:]:
                exec(compile(ast.Interactive([node]), "<stdin>", "single"), namespace)
        except BaseException:
            raise _UserCodeFailed(sys.exc_info())
        return None


class _MagicLine(object):
    def __init__(self, line, router):
        parts = line[1:].split(" ", 1)
        self.name = parts[0]
        self.args = tuple(parts[1:])
        self.router = router

    def run(self, namespace):
        if not self.name:
            raise UnknownMagic("magic command not specified")
        handler = self.router.get(self.name)
        if handler is None:
            raise UnknownMagic("unknown magic command '%s'" % self.name)
        return handler(*self.args)


def _to_table_cell(value):
    """(livy type name, json value) of one %table cell, as fake_shell converts it."""
    t = type(value)
    if value is None:
        return "NULL_TYPE", None
    if t is bool:
        return "BOOLEAN_TYPE", value
    if t is int:
        return "INT_TYPE", value
    if t is float:
        return "DOUBLE_TYPE", value
    if t is datetime.date:
        return "DATE_TYPE", str(value)
    if t is datetime.datetime:
        return "TIMESTAMP_TYPE", str(value)
    if t is decimal.Decimal:
        return "DECIMAL_TYPE", str(value)
    if t in (tuple, list):
        item_type, items = None, []
        for item in value:
            it, iv = _to_table_cell(item)
            if item_type is None:
                item_type = it
            elif item_type != it:
                raise ValueError("value has inconsistent types")
            items.append(iv)
        return "ARRAY_TYPE", items
    if t is dict:
        key_type, value_type, out = None, None, {}
        for k, v in value.items():
            kt, kv = _to_table_cell(k)
            vt, vv = _to_table_cell(v)
            if key_type is None:
                key_type, value_type = kt, vt
            elif key_type != kt or value_type != vt:
                raise ValueError("value has inconsistent types")
            out[kv if isinstance(kv, str) else json.dumps(json_safe(kv))] = vv
        return "MAP_TYPE", out
    return "STRING_TYPE", str(value)


class PythonInterpreter(object):
    def __init__(self, namespace, capture):
        self.ns = namespace
        self.capture = capture
        self.magics = {"table": self._magic_table, "json": self._magic_json,
                       "matplot": self._magic_matplot}

    def _parse(self, code):
        try:
            return [_CodeBlock(code)]
        except SyntaxError:
            pass
        # Maybe magic lines: split into runs of normal lines and single '%' lines.
        chunks, normal = [], []
        for line in code.rstrip().split("\n"):
            if line.startswith("%"):
                if normal:
                    chunks.append("\n".join(normal))
                    normal = []
                chunks.append(line)
            else:
                normal.append(line)
        if normal:
            chunks.append("\n".join(normal))
        return [_MagicLine(c, self.magics) if c.startswith("%") else _CodeBlock(c) for c in chunks]

    def execute(self, code):
        try:
            try:
                nodes = self._parse(code)
            except SyntaxError:
                exc_type, exc_value, _ = sys.exc_info()
                return python_error(exc_type, exc_value, None)
            result = None
            try:
                for node in nodes:
                    result = node.run(self.ns)
            except UnknownMagic:
                exc_type, exc_value, _ = sys.exc_info()
                return python_error(exc_type, exc_value, None)
            except _UserCodeFailed as e:
                return python_error(*e.exc_info)
            except Exception:
                # A magic failed in a way fake_shell would not survive; report it instead.
                exc_type, exc_value, tb = sys.exc_info()
                return python_error(exc_type, exc_value, None)
            stdout, stderr = self.capture.take()
            data = dict(result) if result else {}
            text = data.pop("text/plain", "")
            text = (text + stdout + stderr).rstrip()
            if text or not data:
                data["text/plain"] = text
            return Ok(data)
        finally:
            # Unlike fake_shell, a failed statement's prints do not leak into the next output.
            self.capture.take()

    # -- magics -----------------------------------------------------------------------------

    def _lookup(self, name):
        return self.ns[name]

    def _magic_table(self, name):
        try:
            value = self._lookup(name)
        except KeyError:
            exc_type, exc_value, _ = sys.exc_info()
            return _table_type_error(exc_type, exc_value)
        if not isinstance(value, (list, tuple)):
            value = [value]
        headers, data = {}, []
        for row in value:
            cols = []
            data.append(cols)
            if row.__class__.__name__ == "Row":
                row = row.asDict()
            if not isinstance(row, (list, tuple, dict)):
                row = [row]
            items = enumerate(row) if isinstance(row, (list, tuple)) else sorted(row.items())
            for col_name, col in items:
                col_type, col = _to_table_cell(col)
                header = headers.get(col_name)
                if header is None:
                    headers[col_name] = {"name": str(col_name), "type": col_type}
                elif col_type != "NULL_TYPE" and header["type"] != col_type:
                    if header["type"] == "NULL_TYPE":
                        header["type"] = col_type
                    else:
                        return _table_type_error(Exception, "table rows have different types")
                cols.append(col)
        return {"application/vnd.livy.table.v1+json": {
            "headers": [h for _, h in sorted(headers.items())],
            "data": data}}

    def _magic_json(self, name):
        try:
            value = self._lookup(name)
        except KeyError:
            exc_type, exc_value, _ = sys.exc_info()
            return _table_type_error(exc_type, exc_value)
        dumps(value)  # raises TypeError now rather than when the result is sent
        return {"application/json": value}

    def _magic_matplot(self, name):
        try:
            value = self._lookup(name)
            fig = value.gcf()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            encoded = base64.b64encode(buf.getvalue()).decode("ascii")
        except Exception:
            exc_type, exc_value, _ = sys.exc_info()
            return _table_type_error(exc_type, exc_value)
        return {"image/png": encoded, "text/plain": ""}

    # -- completion -------------------------------------------------------------------------

    def complete(self, code, cursor):
        import rlcompleter
        cursor = max(0, min(len(code), int(cursor)))
        m = re.search(r"[A-Za-z_][\w.]*$|$", code[:cursor])
        token = m.group(0) if m else ""
        completer = rlcompleter.Completer(self.ns)
        out, state = [], 0
        while state < 1000:
            try:
                c = completer.complete(token, state)
            except Exception:
                break
            if c is None:
                break
            c = c.rstrip("(")
            if c not in out:
                out.append(c)
            state += 1
        return out
