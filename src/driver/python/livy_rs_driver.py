"""livy-rs session driver: the Spark application of one interactive session.

Started by the livy-rs server as

    $SPARK_HOME/bin/spark-submit [--conf ...] <dir>/livy_rs_driver.py <config.json>

It connects back to the server over TLS (pinning the server certificate), authenticates with an
HMAC challenge/response, builds the SparkSession and then runs the statements the server sends,
one at a time, answering with outputs in exactly the shape Apache Livy 0.9 produces.

The wire protocol is described in docs/DRIVER_PROTOCOL.md; keep the two in step.

This file only finds the driver's package, livy_rs_driver_lib, and runs it. The package is
beside this program: as a directory in the source tree, as livy_rs_driver_lib.zip where the
server runs it (the server writes the zip into its run directory; on YARN the zip travels in
spark.files and is localized into the container's working directory, where this program runs
too). Python imports the package straight from the zip.

Only the standard library, pyspark, py4j and cloudpickle are imported at module level; pandas and
matplotlib are only touched by the magics that need them.
"""

import os
import sys

PACKAGE = "livy_rs_driver_lib"


def _package_location():
    """The directory or zip that holds the package: beside this program, else in the working
    directory (where YARN localizes spark.files)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (here, os.getcwd()):
        if os.path.isfile(os.path.join(d, PACKAGE, "__init__.py")):
            return d
        archive = os.path.join(d, PACKAGE + ".zip")
        if os.path.isfile(archive):
            return archive
    return None


if __name__ == "__main__":
    location = _package_location()
    if location is None:
        sys.stderr.write("livy-rs-driver: the driver's package %s (a directory or %s.zip) is missing "
                         "beside %s\n" % (PACKAGE, PACKAGE, os.path.abspath(__file__)))
        sys.stderr.flush()
        os._exit(2)  # EXIT_CONNECT_FAILED: nothing was started
    sys.path.insert(0, location)
    from livy_rs_driver_lib.main import run

    run(sys.argv)
