# Sourced by /usr/lib/livy/bin/livy-server (as Apache Livy's livy-env.sh) before the server
# starts, under systemd and from the command line alike. Values already in the environment
# (the unit's Environment= and /etc/default/livy-server) are kept unless set here.
#
# export SPARK_HOME=/usr/lib/spark
# export HADOOP_CONF_DIR=/etc/hadoop/conf
# export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
# export PYSPARK_PYTHON=/usr/bin/python3
export LIVY_LOG_DIR=${LIVY_LOG_DIR:-/var/log/livy}
export LIVY_PID_DIR=${LIVY_PID_DIR:-/run/livy}
