"""TensorBoard reads psflow's event files.

Runs psflow_event_writer_demo (a known set of scalars and session logs),
then loads the directory with TensorBoard's own EventAccumulator and reads
the file with its EventFileLoader, checking every tag, step and value.
Exit 77 (skipped) when tensorboard does not import.
"""
import argparse
import os
import subprocess
import sys
import tempfile

parser = argparse.ArgumentParser()
parser.add_argument("--build-dir", required=True)
args = parser.parse_args()

try:
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader
except ImportError as e:
    print(f"SKIP: tensorboard does not import ({e})")
    sys.exit(77)

failures = 0


def check(ok, what):
    global failures
    print(("  ok   " if ok else "  FAIL ") + what)
    if not ok:
        failures += 1


with tempfile.TemporaryDirectory(prefix="psflow_tb_") as tmp:
    run = os.path.join(tmp, "run")
    path = subprocess.run([os.path.join(args.build_dir, "tests", "psflow_event_writer_demo"), run],
                          check=True, capture_output=True, text=True).stdout.strip()
    check(os.path.basename(path).startswith("events.out.tfevents."), f"file name {os.path.basename(path)}")

    acc = event_accumulator.EventAccumulator(run, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    check(sorted(tags) == ["accuracy", "loss"], f"scalar tags {sorted(tags)}")
    loss = [(e.step, e.value) for e in acc.Scalars("loss")]
    check([s for s, _ in loss] == list(range(10)), f"loss steps {[s for s, _ in loss]}")
    check(all(abs(v - 1.0 / (s + 1)) < 1e-6 for s, v in loss), "loss values 1/(step+1)")
    accuracy = [(e.step, e.value) for e in acc.Scalars("accuracy")]
    check(accuracy == [(10, 0.875)], f"accuracy {accuracy}")
    check(all(e.wall_time > 1.6e9 for e in acc.Scalars("loss")), "wall times are real")

    events = list(event_file_loader.EventFileLoader(path).Load())
    check(events[0].file_version == "brain.Event:2", f"first event file_version {events[0].file_version!r}")
    logs = [(e.step, e.session_log.status, e.session_log.checkpoint_path) for e in events if e.HasField("session_log")]
    check(len(logs) == 2 and logs[0][1] == 1 and logs[1][1] == 3 and logs[1][2].endswith("model.ckpt-10"),
          f"session logs {logs}")

print(f"tensorboard_interop: {'FAILED' if failures else 'passed'} ({failures} failures)")
sys.exit(1 if failures else 0)
