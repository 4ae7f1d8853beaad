#!/bin/bash
# The test Flink image's entrypoint. It keeps the official image's documented contract:
#   jobmanager [args]       a session cluster's JobManager
#   standalone-job [args]   an application cluster's JobManager (the job from /opt/flink/usrlib)
#   taskmanager [args]      a TaskManager
#   anything else           run as a command
# with the configuration in /opt/flink/conf (config.yaml, log4j-console.properties), which
# may be a read-only ConfigMap. The PyPI wheel this image's Flink comes from has no
# bin/*.sh, so this script does what jobmanager.sh, standalone-job.sh and taskmanager.sh do
# in the foreground: JVM memory arguments from Flink's own BashJavaUtils (the same
# computation the scripts make), JVM options from env.java.*opts* in the configuration
# (nothing added here: a configuration without the Java 17 module options fails as it would
# on the official image), the main class, and exec.
set -euo pipefail

export FLINK_HOME=${FLINK_HOME:-/opt/flink}
export FLINK_CONF_DIR=${FLINK_CONF_DIR:-$FLINK_HOME/conf}
export FLINK_LIB_DIR=$FLINK_HOME/lib FLINK_OPT_DIR=$FLINK_HOME/opt
export FLINK_PLUGINS_DIR=$FLINK_HOME/plugins FLINK_BIN_DIR=$FLINK_HOME/bin
export FLINK_LOG_DIR=${FLINK_LOG_DIR:-$FLINK_HOME/log}
mkdir -p "$FLINK_LOG_DIR"

# lib/*.jar with flink-dist last, as Flink's config.sh orders them.
classpath() {
  local cp="" dist=""
  for jar in "$FLINK_LIB_DIR"/*.jar; do
    case $jar in */flink-dist*.jar) dist=$jar ;; *) cp+="$jar:" ;; esac
  done
  printf '%s%s' "$cp" "$dist"
}
CP=$(classpath)

utils() {
  java -cp "$FLINK_BIN_DIR/bash-java-utils.jar:$CP" \
    org.apache.flink.runtime.util.bash.BashJavaUtils "$@" 2>/dev/null
}

# Each BASH_JAVA_UTILS_EXEC_RESULT line of the output, without the marker.
results() { sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p'; }

# The flattened configuration (`key: value` per line), read once.
CONFIG=$(utils UPDATE_AND_GET_FLINK_CONFIGURATION --configDir "$FLINK_CONF_DIR" -flatten | results || true)
config_value() { printf '%s\n' "$CONFIG" | sed -n "s/^$1: //p" | tail -n 1; }

# env.java.default-opts.all, env.java.opts.all and the component's own, as config.sh joins them.
java_opts() {
  local component=$1
  printf '%s %s %s %s' "$(config_value 'env\.java\.default-opts\.all')" \
    "$(config_value 'env\.java\.opts\.all')" \
    "$(config_value "env\.java\.default-opts\.$component")" \
    "$(config_value "env\.java\.opts\.$component")"
}

log_opts() {
  local name=$1
  echo "-Dlog.file=$FLINK_LOG_DIR/$name.log" \
    "-Dlog4j.configuration=file:$FLINK_CONF_DIR/log4j-console.properties" \
    "-Dlog4j.configurationFile=file:$FLINK_CONF_DIR/log4j-console.properties" \
    "-Dlogback.configurationFile=file:$FLINK_CONF_DIR/logback-console.xml"
}

# JVM arguments (first result line) and dynamic properties (second) for a component.
resource_params() {
  local what=$1; shift
  local out
  out=$(utils "$what" --configDir "$FLINK_CONF_DIR" "$@" | results) || {
    echo "flink-entrypoint: computing the memory settings ($what) failed:" >&2
    java -cp "$FLINK_BIN_DIR/bash-java-utils.jar:$CP" \
      org.apache.flink.runtime.util.bash.BashJavaUtils "$what" --configDir "$FLINK_CONF_DIR" "$@" >&2 || true
    exit 1
  }
  JVM_PARAMS=$(printf '%s\n' "$out" | sed -n 1p)
  DYNAMIC=$(printf '%s\n' "$out" | sed -n 2p)
}

# The -D key=value pairs among the arguments (passed to BashJavaUtils, which takes them into
# the memory computation, as jobmanager.sh does).
dynamic_args() {
  local prev=""
  for a in "$@"; do
    if [ "$prev" = -D ]; then printf -- '-D\n%s\n' "$a"; fi
    case $a in -D?*) printf -- '%s\n' "$a" ;; esac
    prev=$a
  done
}

start_jobmanager() {
  local class=$1 name=$2; shift 2
  local dyn=()
  mapfile -t dyn < <(dynamic_args "$@")
  resource_params GET_JM_RESOURCE_PARAMS "${dyn[@]}"
  # shellcheck disable=SC2046,SC2086
  exec java $JVM_PARAMS $(java_opts jobmanager) $(log_opts "$name") -classpath "$CP" \
    "$class" --configDir "$FLINK_CONF_DIR" $DYNAMIC "$@"
}

case "${1:-help}" in
  help)
    echo "usage: $(basename "$0") (jobmanager|standalone-job|taskmanager) [args]"
    ;;
  jobmanager)
    shift
    echo "Starting Job Manager"
    start_jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
      standalonesession --executionMode cluster "$@"
    ;;
  standalone-job)
    shift
    echo "Starting Job Manager"
    start_jobmanager org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint \
      standalonejob "$@"
    ;;
  taskmanager)
    shift
    echo "Starting Task Manager"
    dyn=()
    mapfile -t dyn < <(dynamic_args "$@")
    resource_params GET_TM_RESOURCE_PARAMS "${dyn[@]}"
    # shellcheck disable=SC2046,SC2086
    exec java $JVM_PARAMS $(java_opts taskmanager) $(log_opts taskexecutor) -classpath "$CP" \
      org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir "$FLINK_CONF_DIR" \
      $DYNAMIC "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
