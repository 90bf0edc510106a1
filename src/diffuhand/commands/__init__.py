"""The work behind each ``diffuhand`` sub-command (imported lazily, so ``--help`` stays fast)."""
