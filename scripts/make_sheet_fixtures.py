"""Writes tests/data/sheets/merged.ods, an OpenDocument spreadsheet with
merged cells, written by odfpy (the reference Python library for ODF):

    python3 -m venv /tmp/odf && /tmp/odf/bin/pip install odfpy==1.4.1
    /tmp/odf/bin/python scripts/make_sheet_fixtures.py

Sheet "住宿标准": an empty first row, a title merged across the four columns, a header row,
"一线城市" merged down two rows, a note merged across two columns, and
rows repeated by `number-rows-repeated` before it (as LibreOffice writes
runs of identical rows). Sheet "Notes" comes first and has a merge of its
own at another place, so a reader must tell the sheets apart. The file is
committed; the tests need no Python.
"""

from pathlib import Path

from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import CoveredTableCell, Table, TableCell, TableRow
from odf.text import P

OUT = Path(__file__).resolve().parent.parent / "tests/data/sheets/merged.ods"


def cell(value=None, cols=1, rows=1, repeat=1):
    attrs = {}
    if cols > 1:
        attrs["numbercolumnsspanned"] = cols
    if rows > 1:
        attrs["numberrowsspanned"] = rows
    if repeat > 1:
        attrs["numbercolumnsrepeated"] = repeat
    if isinstance(value, (int, float)):
        c = TableCell(valuetype="float", value=value, **attrs)
        c.addElement(P(text=str(value)))
    elif value is not None:
        # Text cells typed as strings, as LibreOffice writes them.
        c = TableCell(valuetype="string", **attrs)
        c.addElement(P(text=value))
    else:
        c = TableCell(**attrs)
    return c


def row(*cells, repeat=1):
    r = TableRow(numberrowsrepeated=repeat) if repeat > 1 else TableRow()
    for c in cells:
        r.addElement(c)
    return r


def main():
    doc = OpenDocumentSpreadsheet()

    notes = Table(name="Notes")
    notes.addElement(row(cell("About"), cell("merged note", cols=2), CoveredTableCell()))
    notes.addElement(row(cell("x"), cell("y"), cell("z")))
    doc.spreadsheet.addElement(notes)

    t = Table(name="住宿标准")
    # An empty first row: the sheet's cells start on row 2.
    t.addElement(row(cell(repeat=4)))
    t.addElement(row(cell("差旅住宿标准（2026）", cols=4), *[CoveredTableCell() for _ in range(3)]))
    t.addElement(row(cell("城市级别"), cell("城市"), cell("职级"), cell("每晚上限")))
    t.addElement(row(cell("一线城市", rows=2), cell("北京"), cell("经理"), cell(900)))
    t.addElement(row(CoveredTableCell(), cell("上海"), cell("员工"), cell(600)))
    # Two identical rows written once with a repeat count.
    t.addElement(row(cell("二线城市"), cell("成都"), cell("员工"), cell(450), repeat=2))
    t.addElement(row(cell("三线城市"), cell("按实报销，凭发票", cols=2), CoveredTableCell(), cell(350)))
    doc.spreadsheet.addElement(t)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(OUT))
    print(f"wrote {OUT.relative_to(OUT.parents[3])}")


if __name__ == "__main__":
    main()
