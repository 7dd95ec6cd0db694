/**
 * Pure helpers for what the escalation's fixes need in the browser: where a fix goes, and its diff as lines.
 *
 * The server parses the answer's `<fix cell="N">` blocks (protocol.ts `IFix`); the browser only finds the cell
 * the fix names (by the id it had when the request was sent, since cells may move meanwhile) and shows the diff.
 */
import { ICell, IEscalateProvenance, IFix } from './protocol';

export type DiffLineKind = 'add' | 'del' | 'hunk' | 'context';

export interface IDiffLine {
  kind: DiffLineKind;
  text: string;
}

/** A unified diff's lines with their kind, without the `---`/`+++` file header and empty lines. */
export function diffLines(diff: string): IDiffLine[] {
  return diff
    .split('\n')
    .filter(line => line && !line.startsWith('---') && !line.startsWith('+++'))
    .map(text => ({
      kind: text.startsWith('+') ? 'add' : text.startsWith('-') ? 'del' : text.startsWith('@@') ? 'hunk' : 'context',
      text
    }));
}

/** The id of the cell a fix names, among the cells the request sent; undefined when it had none. */
export function fixCellId(fix: IFix, sent: ICell[]): string | undefined {
  return sent[fix.cell]?.id ?? undefined;
}

/** What an applied fix records in its cell's metadata: the escalation's provenance and the cell it named. */
export function fixProvenance(provenance: IEscalateProvenance, fix: IFix): IEscalateProvenance & { cell: number } {
  return { ...provenance, cell: fix.cell };
}
