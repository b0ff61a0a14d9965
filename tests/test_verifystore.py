"""The verifier's catalogue on disk finds exactly what the one in memory finds."""

from __future__ import annotations

import pickle

import pydicom
import pytest

from portal.synth.export import synthesize
from portal.verify_deid.store import StoredValues
from portal.verify_deid.verifier import IdentifyingValues, verify_tree
from tests.test_deid_phi import add_phi


@pytest.fixture(scope="module")
def raw_export(tmp_path_factory):
    """A synthetic export with identifying values everywhere (headers, private tags,
    sequences, file names): verifying it as if it were an output finds them all."""
    export = tmp_path_factory.mktemp("store") / "export"
    synthesize("datpark", export, exams=5, seed=33, shape=(8, 16, 16))
    for path in sorted(export.glob("exams/*/*.dcm")):
        ds = pydicom.dcmread(path)
        add_phi(ds, path)
        ds.save_as(path, enforce_file_format=True)
    return export


def _stored(memory: IdentifyingValues, path) -> StoredValues:
    store = StoredValues(path, writable=True)
    store.merge(memory.state())
    store.commit()
    return store


def _findings(report) -> list[tuple]:
    return sorted(tuple(f.to_dict().values()) for f in report.findings)


@pytest.mark.parametrize("workers", [1, 2])
def test_stored_catalogue_finds_what_the_memory_one_finds(raw_export, tmp_path, workers):
    memory = IdentifyingValues.from_files(sorted(raw_export.glob("exams/*/*.dcm")))
    memory.add_table_values(["Hôpital Saint-Louis"], "centre name")
    store = _stored(memory, tmp_path / "catalogue.sqlite")
    store.add_table_values(["Hôpital Saint-Louis"], "centre name")
    store.commit()
    assert store.count() > 50
    expected = verify_tree(raw_export, memory, workers=workers)
    found = verify_tree(raw_export, store, workers=workers)
    assert len(expected.findings) > 20
    kinds = {f.kind for f in expected.findings}
    assert {"identifying-value", "original-uid", "unshifted-date", "person-name"} <= kinds
    assert _findings(found) == _findings(expected)
    assert (found.files, found.elements) == (expected.files, expected.elements)
    store.close()


def test_stored_catalogue_keeps_the_first_source_and_reopens_read_only(tmp_path):
    first, second = IdentifyingValues(), IdentifyingValues()
    first._add_text("DUPONT Jean-Pierre", "PatientName", words=True)
    second._add_text("DUPONT Jean-Pierre", "OtherPatientNames", words=True)
    second.uids["1.2.3.4.5"] = "StudyInstanceUID"
    store = StoredValues(tmp_path / "c.sqlite", writable=True)
    store.merge(first.state())
    store.merge(second.state())
    store.commit()
    reader = pickle.loads(pickle.dumps(store))  # what a verify worker receives
    assert not reader.writable
    hits = list(reader.search("see dupont jean pierre, 1.2.3.4.5"))
    assert ("identifying-value", "dupont", "PatientName") in hits
    assert ("identifying-value", "dupont jean pierre", "PatientName") in hits
    reader.prefetch(["1.2.3.4.5"])
    assert reader.uids == {"1.2.3.4.5": "StudyInstanceUID"}
    assert list(reader.search("nothing here: 2.25.1234")) == []
    store.close()


def test_bloom_filter_keeps_every_value_and_drops_most_others(tmp_path):
    from portal.verify_deid.store import _hashes, _test_bits

    values = IdentifyingValues()
    for i in range(3000):
        values.uids[f"1.2.826.0.1.3680043.{i}"] = "SOPInstanceUID"
    store = _stored(values, tmp_path / "c.sqlite")
    bloom = pickle.loads(pickle.dumps(store))._bloom
    assert bloom is not None
    assert _test_bits(bloom, _hashes(values.uids)).all()  # never a false "absent"
    absent = _test_bits(bloom, _hashes(f"2.25.{i}" for i in range(20000)))
    assert absent.mean() < 0.02
    store.close()


@pytest.mark.parametrize("consistent", [True, False])
def test_interval_check_reads_the_input_dates_from_the_store(tmp_path, consistent):
    """Two files of one patient whose dates moved by different offsets: the verifier,
    reading the input dates from the store batch by batch, finds it."""
    export = tmp_path / "export"
    synthesize("datpark", export, exams=2, seed=5, shape=(4, 8, 8))
    out = tmp_path / "out"
    store = StoredValues(tmp_path / "c.sqlite", writable=True)
    for number, source in enumerate(sorted(export.glob("exams/*/*.dcm"))):
        ds = pydicom.dcmread(source)
        # consistent: every output date is its input date (offset 0); otherwise the
        # inputs keep their own dates and the outputs two different ones
        before = {"(0008,0020)": "19200101" if consistent else str(ds.StudyDate)}
        ds.StudyDate = "19200101" if consistent or number == 0 else "19200315"
        target = out / f"{number}.dcm"
        target.parent.mkdir(exist_ok=True)
        ds.save_as(target)
        store.add_input_dates(target.name, "P1", before)
    store.commit()
    inputs = store.inputs()
    assert set(dict(inputs.items())) == {"0.dcm", "1.dcm"}
    report = verify_tree(out, store, inputs=inputs, workers=1)
    intervals = [f for f in report.findings if f.kind == "date-interval"]
    assert bool(intervals) is not consistent, report.counts()
    store.close()
