"""Fast mutation runner: the parent imports pytest, NumPy, Hypothesis and the rest once; each job
forks a child that writes one mutated module into one of N copies of the tree, forgets every module
imported from the tree, and runs ``pytest -x`` on the job's tests in-process.

usage (in a throwaway copy of the tree: its conftest.py is emptied, the harness plugin is not under test):
    OUT=dir WORKERS=2 BUDGET=seconds JOB_TIMEOUT=seconds WPREFIX=/tmp/mut/w fork_runner.py JOBS.json.xz [DONE.json ...]
JOBS comes from export.py; DONE files are earlier results whose jobs are skipped.  Each test set
must pass unmutated first (its baseline); writes $OUT/results.json for import_results.py.
"""
import importlib, io, json, lzma, os, shutil, signal, sys, time

sys.dont_write_bytecode = True
ROOT = os.getcwd()
OUT = os.environ.get("OUT", "/tmp/out")
N = int(os.environ.get("WORKERS", max(1, (os.cpu_count() or 2) - 1)))
deadline = time.time() + float(os.environ.get("BUDGET", "480"))
TIMEOUT = float(os.environ.get("JOB_TIMEOUT", "60"))
W = os.environ.get("WPREFIX", "/tmp/w")
jobs = json.load(lzma.open(sys.argv[1], "rt"))
done = set()
for path in sys.argv[2:]:
    done |= {r["id"] for r in json.load(open(path))}
jobs = [j for j in jobs if j["id"] not in done]
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", "/tmp/hyp")
import pytest  # noqa: E402

ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:cov", "-p", "no:tvm_trt_harness"]
# tools/ and docs/ stay: tests read them (tools/cuda_build_probe.py, the reproducers under docs/findings)
ignore = shutil.ignore_patterns(".git", ".mut", ".venv", "reports", "__pycache__", ".hypothesis", "suites")
for i in range(N):
    shutil.rmtree(f"{W}{i}", ignore_errors=True)
    shutil.copytree(ROOT, f"{W}{i}", ignore=ignore)
    open(f"{W}{i}/conftest.py", "w").close()     # the harness plugin is not under test here
open(os.path.join(ROOT, "conftest.py"), "w").close()

# warm up: every test set once (imports all third-party code into the parent); baselines must pass,
# in a copy as the jobs run (a file the copies lack failed every mutant of a test set that needs it)
bad = set()
os.chdir(f"{W}0")
sys.path.insert(0, f"{W}0")
for tests in sorted({tuple(j["tests"]) for j in jobs}):
    rc = pytest.main([*ARGS, f"--basetemp={W}btw", *tests])
    print("baseline", tests, "rc", int(rc), flush=True)
    if rc != 0:
        bad.add(tests)
ours = [k for k, m in sys.modules.items() if (getattr(m, "__file__", None) or "").startswith((ROOT + os.sep, W))
        or k in ("conftest", "harness") or k.startswith("harness.")]
for k in ours:
    del sys.modules[k]
print("workers", N, "jobs", len(jobs), "purged", len(ours), flush=True)


def child(i, job):
    wd = f"{W}{i}"
    os.chdir(wd)
    sys.path[:] = [wd if p in (ROOT, "") else p for p in sys.path]
    if wd not in sys.path:
        sys.path.insert(0, wd)
    importlib.invalidate_caches()
    fd = os.open(f"{W}out{i}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        rc = int(pytest.main([*ARGS, f"--basetemp={W}bt{i}", *job["tests"]]))
    except BaseException:
        rc = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


results, running, free, queue_ = [], {}, list(range(N)), [j for j in jobs if tuple(j["tests"]) not in bad]
while (queue_ or running):
    while free and queue_ and time.time() < deadline:
        j = queue_.pop(0)
        if j["code"] in (None, "#error"):
            results.append({"id": j["id"], "session": j["session"], "rc": "no-test" if j["code"] is None else "error",
                            "out": ""})
            continue
        i = free.pop()
        path = os.path.join(f"{W}{i}", j["module"])
        orig = open(path, encoding="utf-8").read()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(j["code"])
        pid = os.fork()
        if pid == 0:
            child(i, j)
        running[pid] = (i, j, path, orig, time.time())
    if not running:
        break
    pid, status = os.waitpid(-1, os.WNOHANG)
    if pid == 0:
        for p, (i, j, path, orig, t0) in list(running.items()):
            if time.time() - t0 > TIMEOUT:
                os.kill(p, signal.SIGKILL)
        time.sleep(0.01)
        continue
    i, j, path, orig, t0 = running.pop(pid)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(orig)
    rc = os.waitstatus_to_exitcode(status)
    out = open(f"{W}out{i}.txt", errors="replace").read()[-1200:]
    results.append({"id": j["id"], "session": j["session"], "rc": rc if rc >= 0 else "timeout", "out": out,
                    "s": round(time.time() - t0, 2)})
    free.append(i)
    if len(results) % 200 == 0:
        print(len(results), "done", round(deadline - time.time()), "s left", flush=True)
os.makedirs(OUT, exist_ok=True)
json.dump(results, open(os.path.join(OUT, "results.json"), "w"))
print("finished", len(results), "of", len(jobs), "left", len(queue_), flush=True)
