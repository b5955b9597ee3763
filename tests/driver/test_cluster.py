"""A kind=spark session on `local-cluster[1,1,1024]`: executors run in their own JVM, so closures
and case classes defined in the Scala REPL only work if the driver serves its REPL class output
dir (spark.repl.class.outputDir) to them, as spark-shell does. Python closures run there too."""

import pytest

from conftest import start_driver


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    driver = start_driver(tmp_path_factory, "spark", master="local-cluster[1,1,1024]",
                          confs={"spark.executor.memory": "512m"})
    yield driver
    assert driver.shutdown() == 0


def ok_text(out):
    assert out["status"] == "ok", out
    return out["data"]["text/plain"]


def test_repl_classes_reach_the_executors(d):
    code = ("case class Item(n: Int)\n"
            "val doubled = sc.parallelize(1 to 4, 2).map(i => Item(i * 2)).map(_.n).collect().toList")
    assert ok_text(d.run(code, timeout=180)).endswith(
        "val doubled: List[Int] = List(2, 4, 6, 8)\n")
    text = ok_text(d.run("sc.parallelize(1 to 4, 2).map(_ => java.lang.management.ManagementFactory"
                         ".getRuntimeMXBean.getName).distinct.count == 1 && "
                         "sc.parallelize(1 to 1).map(_ => java.lang.management.ManagementFactory"
                         ".getRuntimeMXBean.getName).first != java.lang.management.ManagementFactory"
                         ".getRuntimeMXBean.getName"))
    assert text.endswith(": Boolean = true\n"), "tasks ran in another JVM"


def test_python_closures_on_executors(d):
    out = d.run("sc.parallelize(range(4), 2).map(lambda x: x * 3).collect()", kind="pyspark")
    assert ok_text(out) == "[0, 3, 6, 9]"
