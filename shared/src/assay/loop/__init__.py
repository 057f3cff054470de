"""Closed loops: the environment and policy API, the closed-loop protocol and its campaigns,
the core's environments and policies, and real-lab campaigns."""
