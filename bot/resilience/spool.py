"""A durable, ordered spool of work that could not be written yet.

When the database or the action server is unavailable, what must not be lost (a patient's
message, a conversation's new events, an escalation) is written here as one JSON file per
item, atomically (temp file, fsync, rename), and replayed once the database is back. The
directory holds patient text until it is replayed, so it is private to the service user and
lives outside the repository (SPOOL_DIR, default var/spool).

Several processes may flush the same spool: an item is claimed by renaming it, so exactly one
process replays it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from bot.config import paths

# A claimed item older than this is taken to belong to a process that is gone.
CLAIM_MAX_AGE = 300.0


def spool_root() -> Path:
    return Path(os.environ.get("SPOOL_DIR") or paths.ROOT / "var" / "spool")


def key_of(sender: str) -> str:
    """File names carry a hash of the conversation id, never the id or any text."""
    return hashlib.sha256(sender.encode("utf-8")).hexdigest()[:24]


class Spool:
    def __init__(self, kind: str, root: Optional[Path] = None):
        # Made on the first put: checking for waiting items (every message) costs one glob.
        self.dir = (root or spool_root()) / kind

    def put(self, record: Dict[str, Any], sender: str, replace: bool = False) -> Path:
        """Store `record`. With `replace`, one item per sender (the newest wins), e.g. a whole
        tracker; otherwise items queue in arrival order."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{key_of(sender)}.json" if replace else f"{time.time_ns():020d}-{key_of(sender)}-{uuid.uuid4().hex[:8]}.json"
        target = self.dir / name
        tmp = self.dir / f".{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
        return target

    def items(self) -> List[Path]:
        """Unclaimed items, oldest first."""
        return sorted(p for p in self.dir.glob("*.json"))

    def _all(self) -> List[Path]:
        """Unclaimed and claimed (being replayed right now) items."""
        return [p for p in self.dir.glob("*.json*") if not p.name.startswith(".")]

    def has(self, sender: str) -> bool:
        key = key_of(sender)
        return any(key in p.name for p in self._all())

    def for_sender(self, sender: str) -> List[Path]:
        key = key_of(sender)
        return [p for p in self.items() if key in p.name]

    def claim(self, path: Path) -> Optional[Path]:
        """Take `path` for this process; None if another process took it first."""
        claimed = path.with_name(f"{path.name}.claimed-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        os.utime(claimed)  # the claim's age, for recover_claims
        return claimed

    def release(self, claimed: Path) -> None:
        """Put a claimed item back (it could not be replayed yet)."""
        os.rename(claimed, claimed.with_name(claimed.name.split(".claimed-")[0]))

    @staticmethod
    def load(path: Path) -> Dict[str, Any]:
        return json.loads(path.read_text(encoding="utf-8"))

    @staticmethod
    def done(claimed: Path) -> None:
        claimed.unlink(missing_ok=True)

    def recover_claims(self, max_age: float = CLAIM_MAX_AGE) -> None:
        """Put back items claimed by a process that died, or claimed so long ago that their
        replay cannot still be running (in a container every process may be pid 1)."""
        now = time.time()
        for p in self.dir.glob("*.json.claimed-*"):
            pid = p.name.rsplit("-", 1)[-1]
            try:
                stale = now - p.stat().st_mtime > max_age
            except FileNotFoundError:
                continue
            if stale or not pid.isdigit() or not _alive(int(pid)):
                try:
                    self.release(p)
                except FileNotFoundError:
                    pass

    def dead_letter(self, claimed: Path) -> Path:
        """An item that can never be replayed (unreadable, or it fails for a reason other than
        the database being down) is moved aside for a person to look at, so it never blocks
        the items behind it. Counted by the readiness check."""
        target = self.dir.parent / f"dead-{self.dir.name}"
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        dest = target / claimed.name.split(".claimed-")[0]
        os.replace(claimed, dest)
        os.utime(dest)  # when it was set aside: retention counts from here
        return dest

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[Path]:
        return iter(self.items())


def purge_dead_letters(sender: Optional[str] = None, set_aside_before: Optional[float] = None,
                       root: Optional[Path] = None) -> int:
    """Delete dead letters (they hold message texts and whole trackers) of one conversation,
    or those set aside before an epoch time; returns how many. For a patient's deletion
    request and for the retention job: nothing outlives them here either."""
    key = key_of(sender) if sender is not None else None
    removed = 0
    for path in (root or spool_root()).glob("dead-*/*.json"):
        if key is not None and key not in path.name:
            continue
        try:
            if set_aside_before is not None and path.stat().st_mtime >= set_aside_before:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
