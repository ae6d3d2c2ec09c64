#!/bin/sh
# The task example end to end on this machine, no account needed: uploads the data and the 20
# configs as datasets, runs one job per config in 3 slots (after a test gate of 10 jobs), waits
# and shows the task. Run from anywhere: sh examples/tasks/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export BATON_STATE_DIR="${BATON_STATE_DIR:-$repo/.baton-example-tasks}"
export BATON_BACKEND_SLOTS="${BATON_BACKEND_SLOTS:-local=3}"
export BATON_JOB_WATCH_SCHEDULE="${BATON_JOB_WATCH_SCHEDULE:-* * * * * *}"
export BATON_SCHEDULER_SCHEDULE="${BATON_SCHEDULER_SCHEDULE:-*/10 * * * * *}"
user=demo
stamp=$(date +%Y%m%d%H%M%S)

baton() {
  (cd "$repo" && node --import tsx shared/cli/main.ts --user "$user" "$@")
}

baton dataset register -d "user.$user.scan_data_$stamp" --upload "$here/data"
baton dataset register -d "user.$user.scan_configs_$stamp" --upload "$here/configs"
# %DATA is the data folder, %IN one config file, %OUT a fresh path for this job's output.
baton task create -t "user.$user.scan_$stamp" \
  -c "user.$user.scan_configs_$stamp" -d "user.$user.scan_data_$stamp" \
  --exec 'sh %DATA/scan.sh %IN %DATA %OUT' --wait
baton task show "user.$user.scan_$stamp"
echo "outputs: $BATON_STATE_DIR/lake/tasks/user.$user.scan_$stamp/outputs/"
