"""The hostile-input corpus (issue 15): bad inputs and faults, each built by the tests themselves
(no checked-in binaries), run through the CLI, with the outcome docs/reliability.md promises:
exit status 2 and one ``Error:`` line naming the file, field or option, never a traceback, and
nothing the user had changed. ``python -m tests.hostile.docs`` regenerates the page's corpus section.
"""
