"""bot/heap.py: what exists at start-up leaves the garbage collector's generations. (That the
Rasa server does it once its model is loaded: tests/e2e/test_run_launcher.py reads its log.)"""
import gc

from bot import heap


def test_freeze_takes_existing_objects_out_of_collection_and_collects_what_comes_after():
    kept = [{"n": i} for i in range(1000)]
    try:
        assert heap.freeze() >= len(kept)
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(o) in tracked for o in kept)  # skipped by every collection
        later = [[]]
        later[0].append(later)  # a cycle made after start-up is still collected
        assert any(o is later for o in gc.get_objects())
    finally:
        gc.unfreeze()
