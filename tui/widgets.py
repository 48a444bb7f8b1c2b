"""Widgets the screens share: a DataTable updated in place, the connection
banner, the event log, and the text helpers that format cells."""
import time

from rich.text import Text
from textual.widgets import DataTable, RichLog, Static

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SI_PREFIXES = ("", "k", "M", "G", "T")
EVENT_LINES = 1000


def si(value):
    """1234567 -> '1.2M': short enough for a narrow column; '-' for None."""
    if value is None:
        return "-"
    value = float(value)
    for prefix in SI_PREFIXES:
        if abs(value) < 1000 or prefix == SI_PREFIXES[-1]:
            text = f"{value:.0f}" if not prefix else f"{value:.1f}"
            return f"{text}{prefix}"
        value /= 1000


def sparkline(values, width):
    """The last `width` values as block characters, scaled to their maximum."""
    values = list(values)[-width:]
    top = max(values, default=0)
    if not top:
        return SPARK_BLOCKS[0] * len(values)
    return "".join(SPARK_BLOCKS[min(len(SPARK_BLOCKS) - 1, int(v / top * len(SPARK_BLOCKS)))] for v in values)


class Cell(Text):
    """A table cell: its text, and the value sorting by its column uses."""

    def __init__(self, text, sort=None, style=""):
        super().__init__(str(text), style=style)
        self.sort_value = str(text) if sort is None else sort

    def same_as(self, other):
        """Nothing to redraw or re-sort."""
        return self.plain == other.plain and self.style == other.style and self.sort_value == other.sort_value


class KeyedTable(DataTable):
    """A DataTable whose rows are keyed: `sync` adds new rows, rewrites only
    the cells that changed (update_cell) and removes rows that went, so the
    cursor and the chosen sort stay where they were and nothing flickers."""

    BINDINGS = [("s", "cycle_sort", "Sort")]

    def __init__(self, columns, sort_by=None, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.column_spec = columns          # [(key, label, sort: None | "up" | "down")]
        # None: the order the appliance gives
        self.sort_index = None if sort_by is None else [c for c, _, _ in columns].index(sort_by)
        self._cells = {}                    # row key -> {column key: Cell}

    def on_mount(self):
        for i, (key, label, _) in enumerate(self.column_spec):
            self.add_column(self._label(i), key=key)

    def _label(self, i):
        return Text(self.column_spec[i][1] + (" ▾" if i == self.sort_index else ""))

    def sync(self, rows):
        """rows: {row key: {column key: Cell}}."""
        for key in [k for k in self._cells if k not in rows]:
            self.remove_row(key)
            del self._cells[key]
        added = False
        for key, cells in rows.items():
            if key not in self._cells:
                self.add_row(*(cells[c] for c, _, _ in self.column_spec), key=key)
                self._cells[key] = dict(cells)
                added = True
                continue
            old = self._cells[key]
            for column, _, _ in self.column_spec:
                if not old[column].same_as(cells[column]):
                    self.update_cell(key, column, cells[column])
                    old[column] = cells[column]
        if added:
            # after DataTable has measured the new rows: sorting first would
            # keep lines drawn with the old column widths
            self.call_after_refresh(self._apply_sort)
        else:
            self._apply_sort()

    def selected_key(self):
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def action_cycle_sort(self):
        """Sort by the next sortable column; after the last, the appliance's order."""
        sortable = [i for i, (_, _, order) in enumerate(self.column_spec) if order]
        if not sortable:
            return
        at = sortable.index(self.sort_index) + 1 if self.sort_index in sortable else 0
        self.sort_index = sortable[at] if at < len(sortable) else None
        for i, (key, _, _) in enumerate(self.column_spec):
            self.columns[key].label = self._label(i)
        if self.sort_index is None:
            self._restore_given_order()
        self._apply_sort()
        self.refresh()

    def _restore_given_order(self):
        """Unsorted again: the rows rebuilt once in the order they came (on request only)."""
        cells = self._cells
        self._cells = {}
        self.clear()
        self.sync(cells)

    def _apply_sort(self):
        if self.sort_index is None or not self.row_count:
            return
        keep = self.selected_key()
        column, _, order = self.column_spec[self.sort_index]
        self.sort(column, key=lambda cell: cell.sort_value, reverse=order == "down")
        if keep is not None:
            self.move_cursor(row=self.get_row_index(keep), animate=False)


class Banner(Static):
    """Says why there is no data (no appliance, no permission), or nothing."""

    def show_error(self, message):
        self.update(f"{message}\nretrying every poll interval…" if message else "")
        self.display = bool(message)


class EventLog(RichLog):
    """The appliance's events (and the TUI's own: connection lost, back),
    each written once, from an EventHistory."""

    KIND_STYLES = {"port": "bold yellow", "reload": "bold cyan", "warning": "bold red", "limit": "bold red",
                   "drop": "bold red", "clear": "magenta", "tui": "bold blue"}

    def __init__(self, **kwargs):
        super().__init__(wrap=True, markup=False, max_lines=EVENT_LINES, **kwargs)
        self._written = 0               # EventHistory.total when last drawn

    def show_events(self, history):
        for e in history.since(self._written):
            line = Text(time.strftime("%H:%M:%S ", time.localtime(e["time"])), style="dim")
            line.append(f"{e['kind']:<8} ", style=self.KIND_STYLES.get(e["kind"], "green"))
            line.append(e["message"])
            self.write(line)
        self._written = history.total
