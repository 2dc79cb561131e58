"""The scheduler process: fires due BPMN timers on a schedule, one leader at a time.

`flask scheduler run` is the production process; in development the web process runs
it in-process (WENMING_SCHEDULER=in_process).
"""
