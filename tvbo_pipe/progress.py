"""Compact progress of a Snakemake run: one line per finished job.

The BIDS-app command (:mod:`tvbo_pipe.bids_app`) reads Snakemake's log lines
and prints, for each finished job, who it was for and how far the run is::

    sub-01: fit_global done (3/8)

Everything else Snakemake prints goes to a log file; error reports (and any
line that is not Snakemake's routine progress output) are shown as they come.
"""

from __future__ import annotations

import re

_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_PREFIX = re.compile(r"^\s+wildcards: .*\bprefix=([^,\s]+)")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
_STEPS = re.compile(r"^(\d+) of (\d+) steps \(.*\) done$")
_ERROR_BLOCK = re.compile(r"^(Error in rule \w+|RuleException|WorkflowError)")
#: Snakemake's routine lines, not shown in the compact view.
_ROUTINE = re.compile(
    r"^(\[.*\]$|Building DAG|Using shell|Provided cores|Rules claiming|Select jobs|Execute \d+|"
    r"Job stats:|job +count|-+ +-+|\w+ +\d+$|total +\d+$|host:|Assuming unrestricted|"
    r"Using profile|Complete log|Finished jobid|\d+ of \d+ steps|Nothing to be done|"
    r"Conda environments|Singularity containers|Job \d+:|Reason:|Will exit after|"
    r"Shutting down|Storing output)"
)


class Progress:
    """Turns Snakemake's log lines into compact progress lines.

    Feed every line to :meth:`feed`; it returns the line to show in the
    compact view (a progress line, an error line, or ``None`` for routine
    output).
    """

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, str]] = {}
        self._rule: str | None = None
        self._jobid: str | None = None
        self._finished: str | None = None
        self._in_block = False
        self._in_error = False
        self._in_header = False
        self.done: list[str] = []

    def feed(self, line: str) -> str | None:
        """One line of Snakemake's output (without the newline) -> what to show."""
        text = line.rstrip("\n")
        if text == "SNAKEMAKE":  # Snakemake's banner, up to the next blank line
            self._in_header = True
        if self._in_header:
            self._in_header = bool(text.strip())
            return None
        if self._in_error:
            self._in_error = bool(text.strip())
            return text
        if m := _ERROR_BLOCK.match(text):
            self._in_error = True
            return text
        if m := _RULE.match(text):
            self._rule, self._jobid, self._in_block = m.group(1), None, True
            return None
        if self._in_block and text.startswith("    "):
            if (m := _JOBID.match(text)) and self._rule:
                self._jobid = m.group(1)
                self.jobs[self._jobid] = (self._rule, "dataset")
            elif (m := _PREFIX.match(text)) and self._jobid:
                self.jobs[self._jobid] = (self.jobs[self._jobid][0], m.group(1))
            return None
        self._in_block = False
        if m := _FINISHED.match(text):
            self._finished = m.group(1)
            self.jobs.setdefault(m.group(1), (m.group(2), "dataset"))
            return None
        if (m := _STEPS.match(text)) and self._finished is not None:
            rule, who = self.jobs[self._finished]
            self._finished = None
            line = f"{who}: {rule} done ({m.group(1)}/{m.group(2)})"
            self.done.append(line)
            return line
        if not text.strip() or _ROUTINE.match(text):
            return None
        return text
