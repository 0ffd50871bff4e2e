"""Error families and the exit codes they map to.

Two families, as in tuxmake: the user's mistake (bad config, bad argument)
and the infrastructure's failure (a build or a VM that broke). Each has its
own exit code so scripts and CI can tell them apart.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CELL_FAILED = 1  # the run finished but at least one cell failed
EXIT_USER = 2  # bad config, bad arguments, bad input files
EXIT_INFRA = 3  # a build, a tool or a VM failed
EXIT_NOT_AVAILABLE = 4  # a subcommand that is not implemented yet
EXIT_REGRESSION = 5  # diff --fail-on regression found one
EXIT_EXPECTATION = 6  # diff --fail-on expectation found an unmet one
EXIT_GATE = 7  # the gate found a new failure (run, gate, diff --fail-on gate)
EXIT_INTERRUPTED = 130


class OrchestratorError(Exception):
    exit_code = EXIT_INFRA


class UserError(OrchestratorError):
    """The user's input is wrong; fixing the input fixes it."""

    exit_code = EXIT_USER


class ConfigError(UserError):
    """A config or recipe problem, located by file, line and key path."""

    def __init__(self, file: str, line: int | None, key: str, message: str):
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key or '<document>'}: {message}")


class InfraError(OrchestratorError):
    """Something outside the user's input failed (a tool, a build, a VM)."""

    exit_code = EXIT_INFRA


class NotAvailableError(OrchestratorError):
    exit_code = EXIT_NOT_AVAILABLE
