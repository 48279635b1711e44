"""SVG charts: escaped labels, a title and summary for screen readers, negative values."""

from decimal import Decimal

from costtrack.charts import bar_chart, column_chart, line_chart


def test_column_chart_is_accessible_and_escaped():
    chart = column_chart(
        title="Spend <per> month",
        labels=["Jan", "Feb & Mar"],
        values=[Decimal("10.00"), Decimal("1234.5")],
        currency="USD",
    )
    svg = str(chart.svg)
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "<title>Spend &lt;per&gt; month</title>" in svg
    assert "highest Feb &amp; Mar at 1,234.50 USD" in svg
    assert "<title>Feb &amp; Mar: 1,234.50 USD</title>" in svg
    assert chart.rows == [("Jan", "10.00"), ("Feb & Mar", "1,234.50")]
    assert chart.total == "1,244.50"


def test_bar_and_line_charts_handle_credits_and_empty_data():
    bars = bar_chart(
        title="Units", labels=["a", "b"], values=[Decimal("-5"), Decimal("15")], currency="JPY"
    )
    assert 'width="' in str(bars.svg) and bars.rows == [("a", "-5"), ("b", "15")]
    assert "-" not in str(bars.svg).split('width="')[2].split('"')[0]  # widths stay positive
    empty = line_chart(title="Nothing", labels=[], values=[], currency="USD")
    assert "Nothing: no data." in str(empty.svg)
    assert empty.empty
