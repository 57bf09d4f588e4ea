"""lab_cli.py: pollux-lab's command line as a user meets it: list, --help,
--version, and every kind of bad usage answered in one line with exit 2."""
import os
import subprocess
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t


def lab(*args):
    p = subprocess.run([t.LAB] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


rc, out, err = lab("list")
names = [l.split()[0] for l in out.splitlines() if l.strip()]
t.check(rc == 0 and "scaling" in names, "list names the lessons (%s)" % names)
t.check(all(len(l.split(None, 1)) == 2 and l.rstrip().endswith("?")
            for l in out.splitlines()), "each list line is a name and its question")

rc, out, err = lab("--help")
t.check(rc == 0 and out.startswith("Usage: pollux-lab") and not err, "--help on stdout, exit 0")
rc, out, err = lab("--version")
t.check(rc == 0 and out.startswith("pollux-lab (pollux) "), "--version")
rc, out, err = lab("--list-backends")
t.check(rc == 0 and out.split() == t.backends() and out.split(), "--list-backends")

for args, what in ((("nope",), "no lesson 'nope'"),
                   ((), "name a lesson"),
                   (("scaling", "--seconds", "abc"), "--seconds 'abc': expected a duration"),
                   (("scaling", "--seconds", "0"), "--seconds '0': expected a duration"),
                   (("scaling", "-d", "5x"), "-d '5x': expected a duration"),
                   (("scaling", "-b", "nope"), "-b 'nope': unknown backend; built here: "),
                   (("scaling", "-b", ""), "-b '': unknown backend"),
                   (("scaling", "--frob"), "unknown option '--frob'"),
                   (("scaling", "-x"), "unknown option '-x'"),
                   (("scaling", "--json"), "needs a value"),
                   (("scaling", "blocking"), "one lesson at a time"),
                   (("all", "--json", "-"), "names a directory"),
                   (("framing", "--quick=1"), "option '--quick' takes no value")):
    rc, out, err = lab(*args)
    lines = err.strip().splitlines()
    t.check(rc == 2 and len(lines) == 1 and what in err and not out,
            "%s: exit 2 with one line saying %r (got %d: %r)" % (" ".join(args), what, rc, err))
rc, out, err = lab("nope")
t.check(all(n in err for n in names), "an unknown lesson's line lists every lesson")

# Results nobody can read are no success: exit 1 with one line saying why.
# framing is the quickest lesson (well under a second).
def lab_out(args, stdout):
    p = subprocess.run([t.LAB] + args, stdout=stdout, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=120)
    return p.returncode, p.stderr.decode()


with open("/dev/full", "w") as full:
    rc, err = lab_out(["framing", "-q"], full)
    t.check(rc == 1 and "cannot write to standard output" in err,
            "stdout on a full disk: exit 1 and says so (got %d: %r)" % (rc, err))
rc, err = lab_out(["framing", "-q", "--json", "/dev/full"], subprocess.DEVNULL)
t.check(rc == 1 and "writing --json /dev/full" in err,
        "--json on a full disk: exit 1 and says so (got %d: %r)" % (rc, err))
rc, err = lab_out(["triggers", "-q", "--plot", "/nonexistent-dir/x.svg"], subprocess.DEVNULL)
t.check(rc == 1 and "cannot write --plot /nonexistent-dir/x.svg" in err,
        "--plot into a missing directory is refused before the run (got %d: %r)" % (rc, err))
rc, err = lab_out(["framing", "-q", "--plot", os.path.join(t.TMP, "f.svg")], subprocess.DEVNULL)
t.check("draws no picture" in err and not os.path.exists(os.path.join(t.TMP, "f.svg")),
        "--plot on a lesson without a picture says so (%r)" % err)
t.done()
