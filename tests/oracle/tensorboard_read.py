#!/usr/bin/env python3
"""Reads a folder of TensorBoard event files with TensorBoard's own code and
prints what it found as JSON, for tests/train/tensorboard_test.cpp.

Usage: tensorboard_read.py LOGDIR

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
"""
import json
import os
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New


def records_of(path):
    reader = PyRecordReader_New(path)
    while True:
        try:
            reader.GetNext()  # raises DataLossError on a bad CRC or a cut record
        except errors.OutOfRangeError:
            return
        yield reader.record()


def main():
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
