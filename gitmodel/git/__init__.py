"""Git helpers: refs, the staging tree, tree diffs and walks, packs, locks.

They know nothing of models; everything above builds on them.
"""
