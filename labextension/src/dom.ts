/**
 * Small DOM builders. Every text goes in through `textContent`: run names, params, errors
 * and logs come from users and servers, and are never parsed as HTML.
 */

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text: string | null = null
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== null) {
    node.textContent = text;
  }
  return node;
}

/** A button with a label, a title and a click handler. */
export function button(
  label: string,
  className: string,
  onClick: () => void,
  title = ''
): HTMLButtonElement {
  const node = el('button', `jp-Button jobmagic-button ${className}`, label);
  node.type = 'button';
  if (title) {
    node.title = title;
  }
  node.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return node;
}

/** A two-column table of label → value (values as text, or a node). */
export function kvTable(rows: [string, string | Node][], className = ''): HTMLTableElement {
  const table = el('table', `jobmagic-kv ${className}`.trim());
  const body = el('tbody');
  for (const [key, value] of rows) {
    const row = el('tr');
    row.appendChild(el('th', '', key));
    const cell = el('td');
    if (typeof value === 'string') {
      cell.textContent = value;
    } else {
      cell.appendChild(value);
    }
    row.appendChild(cell);
    body.appendChild(row);
  }
  table.appendChild(body);
  return table;
}
