"""The bad-input corpus: every command fed what a careless user (or an attacker) hands it.

Each case (cases.py) asserts the exit status, one stderr line naming file:line:field or
the path, no traceback, the records before the bad one written, the inputs untouched.
"""
