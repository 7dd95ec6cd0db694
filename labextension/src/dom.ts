/** Tiny DOM builders: the sidebar and review bar are a few buttons and lists, not worth a framework. */
import { diffLines } from './fixes';

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  properties: Partial<HTMLElementTagNameMap[K]> = {},
  children: (Node | string)[] = []
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  for (const child of children) {
    if (child !== '') {
      node.append(child);
    }
  }
  return node;
}

export function button(label: string, onClick: () => void, className = ''): HTMLButtonElement {
  const node = element('button', { textContent: label, className: `jp-layers-button ${className}`.trim() });
  node.type = 'button';
  node.addEventListener('click', event => {
    event.preventDefault();
    onClick();
  });
  return node;
}

/** A unified diff as coloured lines (for the escalation fixes). */
export function diffView(diff: string): HTMLElement {
  return element(
    'pre',
    { className: 'jp-layers-diff' },
    diffLines(diff).map(line =>
      element('div', {
        className: line.kind === 'context' ? '' : `jp-layers-diff-${line.kind}`,
        textContent: line.text
      })
    )
  );
}
