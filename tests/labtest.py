"""labtest.py: what every pollux-lab lesson test needs: run the lab in a
session of its own (so that anything it leaves behind can be found), read
its JSON, check keys and facts, and interrupt it with SIGINT mid-lesson.

A lesson's test is tests/lab_LESSON.py:

    import labtest as t
    r = t.run("triggers", "--quick")        # exit status, JSON, output
    t.keys(r.json, "measurements.level.wakeups", ...)
    t.check(r.json["measurements"]["edge_one_read"]["stalled"] is True, "...")
    t.interrupt("triggers", "--quick")      # SIGINT: exit 1, nothing left
    t.done()

Every wait is bounded; nothing here sleeps to hope a thing has happened.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("top_builddir")
if not BUILD:
    print("ERROR: run through make check (top_builddir unset)")
    sys.exit(99)
LAB = os.path.join(BUILD, "tools", "pollux-lab")
if not os.access(LAB, os.X_OK):
    print("ERROR: %s is not built; run make first" % LAB)
    sys.exit(99)

# Generous: the sanitizer builds are several times slower.
TIMEOUT = float(os.environ.get("LAB_TEST_TIMEOUT", "240"))

failures = 0
TMP = tempfile.mkdtemp(prefix="labtest.")


def check(cond, what):
    global failures
    if cond:
        print("ok: " + what)
    else:
        print("FAIL: " + what)
        failures += 1
    return cond


def session_pids(sid):
    """Processes whose session is sid (field 6 of /proc/PID/stat)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        # rest[0] is field 3 (state); the session is field 6. A zombie
        # counts: it is a child nobody reaped.
        if len(rest) > 3 and int(rest[3]) == sid:
            pids.append(int(d))
    return pids


def comm(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def exe(pid):
    """The file pid runs (its basename), or "" when it is gone."""
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return ""


def wait_session_empty(sid, seconds=15):
    """True once no process of session sid is left (bounded wait: a child
    killed through PR_SET_PDEATHSIG may take a moment to go)."""
    end = time.monotonic() + seconds
    while True:
        left = session_pids(sid)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


class Result:
    pass


def start(lesson, *args, json_path=None):
    argv = [LAB, lesson] + list(args) + ["--no-progress"]
    if json_path:
        argv += ["--json", json_path]
    # start_new_session: the lab leads a session; its children stay in it
    # even though each gets a process group of its own.
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def run(lesson, *args, expect_json=True):
    """Runs `pollux-lab LESSON ARGS --json FILE`; checks that it ended in
    time, exited 0 or 1, and left no process behind."""
    path = os.path.join(TMP, lesson + ".json")
    p = start(lesson, *args, json_path=path if expect_json else None)
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        check(False, "%s %s finished within %.0f s" % (lesson, " ".join(args), TIMEOUT))
    r = Result()
    r.rc = p.returncode
    r.seconds = time.monotonic() - t0
    r.out = out.decode(errors="replace")
    r.err = err.decode(errors="replace")
    sys.stdout.write(r.out)
    if r.err:
        sys.stdout.write("stderr: " + r.err)
    check(r.rc in (0, 1), "%s exits 0 or 1 (got %s)" % (lesson, r.rc))
    fits_80(r)
    left = wait_session_empty(p.pid)
    check(not left, "%s leaves no process behind %s" %
          (lesson, [comm(x) for x in left] if left else ""))
    r.json = None
    if expect_json:
        try:
            with open(path) as f:
                r.json = json.load(f)
        except (OSError, ValueError) as e:
            check(False, "%s wrote valid JSON to --json (%s)" % (lesson, e))
            r.json = {}
        envelope(r.json, lesson)
    return r


def backends():
    """The backends this build has, as pollux-lab --list-backends says."""
    out = subprocess.run([LAB, "--list-backends"], stdout=subprocess.PIPE,
                         check=True, timeout=30).stdout.decode()
    return out.split()


def get(obj, dotted):
    for k in dotted.split("."):
        if not isinstance(obj, dict) or k not in obj:
            raise KeyError(dotted)
        obj = obj[k]
    return obj


def keys(obj, *dotted):
    """Every dotted key is present (its value may be null: not measured)."""
    for d in dotted:
        try:
            get(obj, d)
            check(True, "key " + d)
        except KeyError:
            check(False, "key %s present" % d)


def envelope(j, lesson):
    keys(j, "lesson", "question", "pollux_version", "time", "machine.cores",
         "machine.kernel", "machine.loadavg_before", "machine.loadavg_after",
         "machine.rlimit_nofile", "settings", "measurements", "observed", "verdict")
    check(isinstance(j.get("pollux_version"), str) and j.get("pollux_version"),
          "pollux_version is text")
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", j.get("time") or "") is not None,
          "time is ISO 8601 UTC (%r)" % j.get("time"))
    for k in ("loadavg_before", "loadavg_after"):
        v = j.get("machine", {}).get(k)
        check(v is None or (isinstance(v, list) and len(v) == 3),
              "machine.%s is null or [1m, 5m, 15m] (%r)" % (k, v))
    check(j.get("lesson") == lesson, "lesson is %r" % lesson)
    check(isinstance(j.get("observed"), bool), "observed is a boolean")
    check(isinstance(j.get("verdict"), str) and j.get("verdict"), "verdict is text")


def interrupt(lesson, *args, after=None, seconds=60, json_path=None):
    """Starts the lesson, waits until a process named `after` (default
    pollux-server) runs in its session, sends SIGINT to the lab alone and
    checks that it exits 1 within the bound and leaves nothing behind."""
    after = after or "pollux-server"
    p = start(lesson, *args, json_path=json_path)
    end = time.monotonic() + seconds
    seen = False
    while time.monotonic() < end and p.poll() is None:
        # Until the lab has replaced the libtool wrapper (a shell script
        # whose subshells carry the lab's command line), a process named
        # like the lab's own children may be the wrapper's.
        if "pollux-lab" not in exe(p.pid):
            time.sleep(0.02)
            continue
        if any(after in comm(x) for x in session_pids(p.pid) if x != p.pid):
            seen = True
            break
        time.sleep(0.02)
    check(seen, "%s started %s" % (lesson, after))
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        check(False, "%s ends within 30 s of SIGINT" % lesson)
    check(p.returncode == 1, "%s interrupted exits 1 (got %s)" % (lesson, p.returncode))
    left = wait_session_empty(p.pid)
    check(not left, "%s interrupted leaves no process behind %s" %
          (lesson, [comm(x) for x in left] if left else ""))


def interrupt_json(lesson, required, after="pollux-server"):
    """interrupt() of `LESSON --quick --json FILE`: the lesson still writes
    every required key (null where it did not measure). Returns the JSON."""
    path = os.path.join(TMP, lesson + ".interrupted.json")
    interrupt(lesson, "--quick", after=after, json_path=path)
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "%s interrupted wrote valid JSON (%s)" % (lesson, e))
        j = {}
    check(j.get("observed") is False, "%s interrupted is not observed" % lesson)
    keys(j, *required)
    return j


def fits_80(r):
    """Every line the lesson printed fits an 80-column terminal (the lab
    wraps its question, setup and verdict lines)."""
    for line in r.out.splitlines():
        check(len(line) <= 80, "a printed line fits 80 columns (%d: %.40s...)"
              % (len(line), line))


def done():
    import shutil
    shutil.rmtree(TMP, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % failures)
        sys.exit(1)
    sys.exit(0)
