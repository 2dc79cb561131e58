"""The scheduler process: opens cycles, fires BPMN timers and sends e-mail.

Until it runs, due timers are fired with `flask timer fire` (see the README).
"""
