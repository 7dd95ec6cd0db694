"""Layer 3 for substantial work: an agent that builds the cells a task asks for and verifies them before the user
sees them.

- ``verify``: in the kernel, proposed cells run in order in a fresh sandbox over the live state (a fork), then
  the user's check;
- ``agent``: the loop (scratch tries, ``propose``, verification, one taste revision) and what it ends with, a
  ``Proposal``;
- ``proposal``: proposals as notebook cells (tagged ``jupyter-layers-proposed``, with their fork outputs and
  provenance), accepted or rejected.
"""
