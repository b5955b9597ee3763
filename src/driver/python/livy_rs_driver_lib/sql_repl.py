"""The sql kind: Livy's SQLInterpreter (rows as json4s would have written the JVM values)."""

import datetime
import decimal

from .channel import json_safe
from .output import Err, Ok


# --------------------------------------------------------------------------------------------
# sql: Livy's SQLInterpreter
# --------------------------------------------------------------------------------------------

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _sql_value(v, dtype):
    """A Row value as json4s would have decomposed the JVM value in Livy's SQLInterpreter."""
    from pyspark.sql import types as T
    if v is None:
        return None
    if isinstance(v, bool) or isinstance(v, int) or isinstance(v, str):
        return v
    if isinstance(v, float):
        return json_safe(v)
    if isinstance(v, decimal.Decimal):
        return json_safe(float(v))  # json4s' DefaultFormats turn BigDecimal into a double
    if isinstance(v, datetime.datetime):
        if isinstance(dtype, getattr(T, "TimestampNTZType", ())):
            return v.isoformat()
        # java.sql.Timestamp -> DefaultFormats' "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'" in UTC
        aware = v if v.tzinfo else v.astimezone()
        u = aware.astimezone(datetime.timezone.utc)
        return u.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (u.microsecond // 1000)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return [b - 256 if b > 127 else b for b in bytes(v)]  # Array[Byte] is signed
    if isinstance(v, (list, tuple)) and hasattr(v, "__fields__") and isinstance(dtype, T.StructType):
        return {f.name: _sql_value(x, f.dataType) for f, x in zip(dtype.fields, v)}
    if isinstance(v, (list, tuple)):
        et = getattr(dtype, "elementType", None)
        return [_sql_value(x, et) for x in v]
    if isinstance(v, dict):
        vt = getattr(dtype, "valueType", None)
        return {str(_sql_value(k, None)): _sql_value(x, vt) for k, x in v.items()}
    return str(v)


def _java_error(exc):
    """(message, stack trace lines) of the JVM exception behind a pyspark error, if any."""
    origin = getattr(exc, "_origin", None) or getattr(exc, "java_exception", None)
    if origin is None:
        cause = getattr(exc, "_cause", None)
        origin = getattr(cause, "java_exception", None) if cause is not None else None
    if origin is not None:
        try:
            msg = origin.getMessage()
            trace = [str(e.toString()) for e in origin.getStackTrace()]
            return msg, trace
        except Exception:
            pass
    return str(exc), []


class SqlInterpreter(object):
    def __init__(self, spark, max_rows):
        self.spark = spark
        self.max_rows = max_rows

    def execute(self, code):
        try:
            df = self.spark.sql(code)
            schema = df.schema
            rows = df.take(self.max_rows)
            data = [[_sql_value(v, f.dataType) for f, v in zip(schema.fields, row)] for row in rows]
            return Ok({"application/json": {"schema": schema.jsonValue(), "data": data}})
        except Exception as e:
            msg, trace = _java_error(e)
            return Err("Error", msg, trace)
