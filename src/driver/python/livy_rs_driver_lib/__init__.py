"""The livy-rs session driver, run by livy_rs_driver.py (see its docstring and
docs/DRIVER_PROTOCOL.md). Its modules:

- process: start time, the real stdout/stderr, diagnostics, exit codes
- channel: TLS + HMAC-authenticated JSON frames to the server
- output: Livy's output shapes, the output cap, stdout/stderr capture
- python_repl, sql_repl, scala_repl: the pyspark, sql and spark kinds
  (the Scala half is livy_rs_bridge.scala, beside the program)
- driver: the Driver (start-up, message dispatch, shutdown), with its parts
  statements (statements, cancel, progress, completion), jobs (Livy's Job API,
  Python and Java) and additions (add_file/add_pyfile/add_jar); cancel holds the
  asynchronous exceptions that interrupt Python code on other threads
- main: the config file and command line

The server embeds every file of this package (src/driver/program.rs lists them).
"""
