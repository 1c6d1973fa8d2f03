"""Reads the fuzzing server's index.json and prints the verdict for one agent.

Usage: summarize.py INDEX_JSON AGENT BASELINE_AGENT

Prints each failing case of AGENT, the total duration of the 9.* (performance)
cases for AGENT and BASELINE_AGENT, then `autobahn: P passed, F failed`.
Exits 1 when F > 0 or no case ran.
"""

import json
import sys

PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def main():
    index_path, agent, baseline = sys.argv[1:4]
    with open(index_path) as f:
        index = json.load(f)
    results = index.get(agent, {})
    failed = []
    for case_id in sorted(results, key=case_key):
        result = results[case_id]
        if result["behavior"] not in PASSING or result["behaviorClose"] not in PASSING:
            failed.append(case_id)
            print("autobahn: case %s failed: behavior %s, close %s" % (
                case_id, result["behavior"], result["behaviorClose"]))
    for who in (agent, baseline):
        durations = [r["duration"] for c, r in index.get(who, {}).items() if c.startswith("9.")]
        print("autobahn: 9.* total duration %s: %.1f s over %d cases" % (
            who, sum(durations) / 1000.0, len(durations)))
    passed = len(results) - len(failed)
    print("autobahn: %d passed, %d failed" % (passed, len(failed)))
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
