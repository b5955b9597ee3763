"""Start-up: the driver program's config file and command line."""

import json
import os

from .driver import Driver
from .process import EXIT_CONNECT_FAILED, REAL_STDERR, REAL_STDOUT, log


def read_config(path):
    with open(path, "r", encoding="utf-8") as f:
        config = json.load(f)
    try:
        os.remove(path)  # it holds the session secret
    except OSError:
        pass
    for key in ("session_id", "server", "fingerprint", "secret"):
        if key not in config:
            raise ValueError("config is missing %r" % key)
    return config


def main(argv):
    # pyspark 4 warns once per session that DataFrame.toJSON will change; the warning lands in
    # the statement's output after the rows, where clients (pylivy download, sparkmagic %%sql)
    # parse the text as JSON. Livy (Spark <= 3.5) never printed it.
    import warnings
    warnings.filterwarnings(
        "ignore", message="The return type of DataFrame.toJSON will be changed", category=UserWarning
    )
    # pyspark 4 logs caught SQL errors through JSON loggers whose handler binds to whatever
    # sys.stderr is when first used; made here, they write to the real stderr instead of the
    # output capture of whichever statement first failed (and then every later one's).
    try:
        from pyspark.logger import PySparkLogger

        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            PySparkLogger.getLogger(name)
    except Exception:
        pass  # pyspark 3.x has no such loggers
    if len(argv) != 2:
        log("usage: livy_rs_driver.py <config.json>")
        return EXIT_CONNECT_FAILED
    try:
        config = read_config(argv[1])
        driver = Driver(config)
    except Exception as e:
        log("bad configuration %s: %s" % (argv[1], e))
        return EXIT_CONNECT_FAILED
    return driver.run()


def run(argv):
    """The program: main, then the process ends with its exit code."""
    code = main(argv)
    try:
        REAL_STDOUT.flush()
        REAL_STDERR.flush()
    except Exception:
        pass
    os._exit(code)
