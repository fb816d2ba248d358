"""Candidate generators ("posterior samplers") that shape the pool the acquisition ranks."""
