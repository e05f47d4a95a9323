"""Write the bundled sample documents used by `make demo` (run once; outputs are committed).

A fictional manufacturer, Northwind Manufacturing, with an annual report (PDF), a plant table
(CSV) and a maintenance manual (Markdown): small, but shaped like what users bring.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parent.parent / "src" / "industry_expert" / "samples"

PAGES = [
    (
        "Northwind Manufacturing Inc. Annual Report, Fiscal Year 2023",
        [
            "Northwind Manufacturing Inc. designs and builds industrial pumps, valves and flow controllers "
            "for water utilities and chemical plants. Fiscal year 2023 ended December 31, 2023.",
            "Revenue grew 12% to $482.6 million, driven by utility pump orders in North America and the "
            "launch of the FlowSense smart valve line. Gross margin was 34.1%, up from 32.7% in fiscal 2022.",
        ],
        None,
    ),
    (
        "Item 7. Management's Discussion and Analysis",
        [
            "Capital expenditure in fiscal 2023 was $38.4 million, compared with $29.9 million in fiscal 2022. "
            "Most of the increase funded the new machining line at the Tilburg plant and automated test "
            "benches in Dayton.",
            "We expect capital expenditure of $35 million to $40 million in fiscal 2024, mainly for capacity "
            "at the Monterrey plant.",
        ],
        [
            ("(in millions)", "FY2023", "FY2022"),
            ("Revenue", "$482.6", "$430.9"),
            ("Gross profit", "$164.6", "$140.9"),
            ("Operating income", "$61.2", "$49.8"),
            ("Capital expenditure", "$38.4", "$29.9"),
            ("Free cash flow", "$27.5", "$22.1"),
        ],
    ),
    (
        "Item 1A. Risk Factors",
        [
            "Our plants depend on castings from two suppliers in Eastern Europe; a disruption could delay "
            "pump deliveries by up to twelve weeks. We hold eight weeks of safety stock for critical castings.",
            "Steel and copper prices affect our cost of goods sold; we hedge about 60% of expected purchases "
            "twelve months ahead.",
        ],
        None,
    ),
]


def make_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.set_title("Northwind Manufacturing Annual Report 2023")
    for heading, paragraphs, table in PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, heading)
        pdf.ln(2)
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
        if table:
            with pdf.table(col_widths=(60, 30, 30)) as t:
                for row in table:
                    r = t.row()
                    for cell in row:
                        r.cell(cell)
    pdf.output(str(path))


CSV = """plant,country,employees,capacity_units_per_year,iso_9001_certified,manager
Dayton,United States,640,52000,yes,Maria Alvarez
Tilburg,Netherlands,410,38000,yes,Joost de Vries
Monterrey,Mexico,520,61000,yes,Luis Ortega
Pune,India,290,24000,no,Anjali Rao
"""

MANUAL = """# FlowSense valve maintenance manual

## Scope

This manual covers the FlowSense FS-200 and FS-400 smart valves installed at utility sites.

## Inspection intervals

Inspect the actuator seals every 6 months. Replace the position sensor battery every 24 months,
or when the controller reports error code E42 (low sensor voltage).

## Error codes

| Code | Meaning | Action |
| --- | --- | --- |
| E17 | Actuator stalled | Check for debris in the valve seat, then power-cycle the actuator |
| E42 | Low sensor voltage | Replace the position sensor battery (part NW-BAT-3) |
| E58 | Lost network link | Check the Modbus cable and the controller's IP settings |
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    make_pdf(OUT / "northwind_annual_report_2023.pdf")
    (OUT / "plants.csv").write_text(CSV, encoding="utf-8")
    (OUT / "flowsense_manual.md").write_text(MANUAL, encoding="utf-8")


if __name__ == "__main__":
    main()
