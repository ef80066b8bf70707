"""bot/rasa_ext/speed/heap.py: what exists at start-up leaves the garbage collector's generations. (That the
Rasa server does it once its model is loaded: tests/e2e/test_run_launcher.py reads its log.)"""
import gc
import weakref

from bot.rasa_ext.speed import heap


def test_freeze_takes_existing_objects_out_of_collection_and_collects_what_comes_after():
    kept = [[i] for i in range(1000)]  # containers: tracked by the collector
    assert all(gc.is_tracked(o) for o in kept)
    try:
        assert heap.freeze() >= len(kept)
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(o) in tracked for o in kept)  # skipped by every collection
        later = Node()
        later.me = later  # a cycle made after start-up is still collected
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()


class Node:
    pass
