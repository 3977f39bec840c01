"""Proactive suggestions, on top of triage.orders.risk: the policy (policy.py), the bilingual
drafts (drafts.py) and the one lifecycle that decides a suggestion's status (lifecycle.py)."""
