"""Every test_*.py under tests/ is run by some ctest test: by path, or as
`python3 -m unittest MODULE[.Class]` in its own directory. Run by ctest with
the build directory as its argument; prints each file no test runs."""

import json
import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))


def registered(build_dir):
    """(paths named in commands, (directory, module) pairs run by unittest)."""
    out = subprocess.run(["ctest", "--test-dir", build_dir, "--show-only=json-v1"],
                         capture_output=True, text=True, check=True).stdout
    paths, modules = set(), set()
    for test in json.loads(out).get("tests", []):
        command = test.get("command", [])
        props = {p["name"]: p["value"] for p in test.get("properties", [])}
        workdir = os.path.realpath(props.get("WORKING_DIRECTORY", build_dir))
        paths.update(os.path.realpath(arg) for arg in command if arg.endswith(".py"))
        if "unittest" in command:
            names = [arg for arg in command[command.index("unittest") + 1:] if not arg.startswith("-")]
            modules.update((workdir, name.split(".")[0]) for name in names)
    return paths, modules


def main(build_dir):
    paths, modules = registered(build_dir)
    missing = []
    for directory, _, files in os.walk(TESTS):
        for name in sorted(files):
            if name.startswith("test_") and name.endswith(".py"):
                path = os.path.realpath(os.path.join(directory, name))
                if path not in paths and (os.path.dirname(path), name[:-3]) not in modules:
                    missing.append(os.path.relpath(path, TESTS))
    for name in missing:
        print("tests/%s: no ctest test runs it" % name)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
