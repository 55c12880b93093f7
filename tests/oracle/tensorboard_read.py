#!/usr/bin/env python3
"""Reads a folder of TensorBoard event files with TensorBoard's own code and
prints what it found as JSON, for tests/train/tensorboard_test.cpp.

Usage: tensorboard_read.py LOGDIR
       tensorboard_read.py --runs RUNS_DIR

Two readings, both from the `tensorboard` package (pinned in
tests/oracle/requirements.txt, installed by scripts/test.sh into
build/oracle-venv):
  records      every record of every event file, in file-name order, read
               with TensorBoard's TFRecord reader (which checks both CRCs;
               a failed check or a cut record is an error here, exit 1) and
               parsed by protobuf into tensorboard's Event class
  accumulator  what TensorBoard's UI shows: EventAccumulator over LOGDIR,
               every scalar kept (no reservoir sampling)
Output: {"files": [name, ...],
         "records": [{"file", "wall_time", "step", "file_version"?,
                      "scalars": {tag: value}}, ...],
         "accumulator": {tag: [[step, value, wall_time], ...]}}

With --runs, what `tensorboard --logdir RUNS_DIR` serves: the server's own
EventMultiplexer finds the runs under RUNS_DIR (every folder holding event
files) and its scalars plugin's curves are printed, every point kept:
{"runs": {run name: {tag: [[step, value], ...]}}}
"""
import json
import os
import sys

from tensorboard.backend.event_processing import event_accumulator, plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
from tensorboard.util import tensor_util


def records_of(path):
    reader = PyRecordReader_New(path)
    while True:
        try:
            reader.GetNext()  # raises DataLossError on a bad CRC or a cut record
        except errors.OutOfRangeError:
            return
        yield reader.record()


def served_runs(runs_dir):
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"scalars": 0})
    mux.AddRunsFromDirectory(runs_dir)
    mux.Reload()
    runs = {}
    for run, tags in mux.PluginRunToTagToContent("scalars").items():
        runs[run] = {
            tag: [[e.step, float(tensor_util.make_ndarray(e.tensor_proto).item())] for e in mux.Tensors(run, tag)]
            for tag in tags
        }
    return {"runs": runs}


def main():
    if sys.argv[1] == "--runs":
        json.dump(served_runs(sys.argv[2]), sys.stdout)
        return
    logdir = sys.argv[1]
    files = sorted(f for f in os.listdir(logdir) if "tfevents" in f)
    records = []
    for name in files:
        for data in records_of(os.path.join(logdir, name)):
            event = event_pb2.Event.FromString(data)
            record = {"file": name, "wall_time": event.wall_time, "step": event.step}
            if event.WhichOneof("what") == "file_version":
                record["file_version"] = event.file_version
            record["scalars"] = {v.tag: v.simple_value for v in event.summary.value}
            records.append(record)

    acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    accumulated = {
        tag: [[s.step, s.value, s.wall_time] for s in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]
    }
    json.dump({"files": files, "records": records, "accumulator": accumulated}, sys.stdout)


if __name__ == "__main__":
    main()
