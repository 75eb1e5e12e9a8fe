// What floats over the pane: the breadcrumb into opened blocks (top-left), the note banner (top), and the
// "Make a block" button for a selection of two or more nodes (bottom-centre).

export function Breadcrumb({ crumbs, send }) {
  if (!crumbs || crumbs.length === 0) return null;
  return (
    <div className="nc-overlay nc-breadcrumb">
      {crumbs.map((crumb, i) => (
        <span key={i} className="nc-crumb">
          {i > 0 ? <span className="nc-crumb-sep">›</span> : null}
          <button
            data-testid={`breadcrumb-${i}`}
            className={i === crumbs.length - 1 ? "nc-crumb-current" : ""}
            onClick={() => send("open", { path: crumb.path })}
          >
            {crumb.label}
          </button>
        </span>
      ))}
    </div>
  );
}

export function Note({ text }) {
  if (!text) return null;
  return (
    <div className="nc-overlay nc-note" data-testid="canvas-note">
      {text}
    </div>
  );
}

export function MakeBlock({ ids, send }) {
  return (
    <button className="nc-overlay nc-make-block" data-testid="make-block" onClick={() => send("group", { nodes: ids })}>
      Make a block of {ids.length} nodes
    </button>
  );
}
