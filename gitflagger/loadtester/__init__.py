"""``gitflagger loadtester``: Flagger's load tester API, without its shell.

Existing Canaries point their webhooks at Flagger's load tester
(``http://flagger-loadtester.test/``, ``/gate/check``, ``/rollback/check``). This
package serves the same API so those Canaries work unchanged, with three differences
an operator should know about:

- ``cmd`` tasks run without a shell, and only programs on an allow-list run
  (:mod:`.commands`); ``type: bash`` is off unless ``--enable-bash`` is given.
- A confirm or rollback gate can also be opened by a commit in a git repo
  (:mod:`.gates`), so every approval is auditable.
- Logs are JSON lines and ``/metrics`` counts tasks and gate checks.

The parts, from the outside in: :mod:`.cli` (the click command), :mod:`.server`
(HTTP and routing), :mod:`.tasks` (background and blocking tasks), :mod:`.process`
(one child process with a timeout), :mod:`.commands` (what may run),
:mod:`.gates` (gate state), :mod:`.payload` (the webhook body).
"""
