"""Plumbing every stage shares.

``atomic`` (write so a crash leaves the old state or the new one), ``workers`` (process
pools that never outlive their command), ``console`` (progress that never looks like a
hang), ``environ`` (environment variables set for one block).
"""
