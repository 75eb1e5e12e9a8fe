// The palette: the catalog's groups, searchable by name and description, collapsible. An item is dragged onto
// the pane (HTML5 drag, the op's name under DRAG_MIME) or clicked (added at the centre of the view).
import { memo, useMemo, useState } from "react";

export const DRAG_MIME = "application/x-netcanvas-op";

function matches(op, query) {
  if (!query) return true;
  const text = `${op.name} ${op.doc || ""}`.toLowerCase();
  return query.split(/\s+/).every((word) => text.includes(word));
}

function PaletteItem({ op, colour, onAdd }) {
  const onDragStart = (event) => {
    event.dataTransfer.setData(DRAG_MIME, op.name);
    event.dataTransfer.setData("text/plain", op.name);
    event.dataTransfer.effectAllowed = "copy";
  };
  return (
    <div
      className="nc-palette-item"
      style={{ "--nc-accent": colour }}
      draggable
      onDragStart={onDragStart}
      onClick={() => onAdd(op.name)}
      title={op.doc || op.name}
      data-testid={`palette-${op.name}`}
    >
      {op.name}
    </div>
  );
}

function PaletteView({ groups, onAdd }) {
  const [query, setQuery] = useState("");
  const [open, setOpen] = useState(true);
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return groups
      .map((group) => ({ ...group, ops: group.ops.filter((op) => matches(op, q)) }))
      .filter((group) => group.ops.length > 0);
  }, [groups, query]);
  if (!open) {
    return (
      <div className="nc-palette nc-palette-closed">
        <button className="nc-palette-toggle" data-testid="palette-toggle" title="Show layers" onClick={() => setOpen(true)}>
          ›
        </button>
      </div>
    );
  }
  return (
    <div className="nc-palette" data-testid="palette">
      <div className="nc-palette-top">
        <input
          className="nc-palette-search"
          data-testid="palette-search"
          placeholder="Search layers"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
        />
        <button className="nc-palette-toggle" data-testid="palette-toggle" title="Hide layers" onClick={() => setOpen(false)}>
          ‹
        </button>
      </div>
      <div className="nc-palette-list">
        {shown.map((group) => (
          <div key={group.group} className="nc-palette-group">
            <div className="nc-palette-group-name" style={{ color: group.colour }}>
              {group.group}
            </div>
            {group.ops.map((op) => (
              <PaletteItem key={op.name} op={op} colour={group.colour} onAdd={onAdd} />
            ))}
          </div>
        ))}
        {shown.length === 0 ? <div className="nc-palette-empty">No layer matches “{query}”</div> : null}
      </div>
    </div>
  );
}

// Memoised: drawn again only when its groups (kept as one object while unchanged) or its callback change.
export const Palette = memo(PaletteView);
