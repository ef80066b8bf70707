"""Patients' data rights: deleting a conversation's content while keeping an audit stub."""
