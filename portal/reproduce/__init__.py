"""``portal reproduce``: re-run a team's solution on a release, score it, give a verdict.

``reproduction`` runs the stage. The team's package (``team``), the challenge's rules
(``rules``), the isolation (``sandbox``, ``seccomp``, the files in ``in_sandbox/``,
``environments``, ``numerics``), what the run wrote (``harvest``, ``view``), the scoring
(``metrics``, ``verdict``, ``plots``) and the MLflow log (``tracking``).
"""
