/**
 * Proposals from the kernel itself: `%build` run in a notebook cell, and an outside agent's `propose_cells`
 * through `jupyter layers mcp`. The kernel opens a comm (jupyter_layers/building/handoff.py) on
 * `jupyter_layers.proposals` carrying the verified cells; they are inserted as tagged proposals below the cell
 * it names (the `%build` cell), else below the active cell, and shown in the Build tab for accepting or
 * rejecting, as the Build tab's own. The comm on `jupyter_layers.frontend` is the kernel asking whether a
 * frontend takes proposals: answering it tells `%build` to send them here rather than offer the next input.
 */
import type { Kernel } from '@jupyterlab/services';
import { NotebookPanel } from '@jupyterlab/notebook';

import { insertProposedCells } from './proposals';
import { IProposalHandoff, isProposal } from './protocol';

export const PROPOSALS_TARGET = 'jupyter_layers.proposals';
export const FRONTEND_TARGET = 'jupyter_layers.frontend';

export type ProposalShown = (panel: NotebookPanel, proposal: IProposalHandoff, ids: string[]) => void;

/** Take proposals from the notebook's kernel, whichever kernel it has (they change on restart or switch). */
export function takeProposals(panel: NotebookPanel, show: ProposalShown): void {
  const register = (kernel: Kernel.IKernelConnection | null | undefined) => {
    if (!kernel) {
      return;
    }
    kernel.registerCommTarget(FRONTEND_TARGET, comm => {
      comm.send({ frontend: 'jupyterlab' });
    });
    kernel.registerCommTarget(PROPOSALS_TARGET, (comm, message) => {
      const proposal = message.content.data as unknown as IProposalHandoff;
      if (!isProposal(proposal)) {
        comm.send({
          error: "not a proposal this version of jupyter_layers reads: upgrade the kernel's and the server's"
        });
        return;
      }
      const anchor = proposal.below || panel.content.activeCell?.model.id || '';
      const ids = insertProposedCells(panel, anchor, proposal);
      show(panel, proposal, ids);
      comm.send({ inserted: ids.length });
    });
  };
  register(panel.sessionContext.session?.kernel);
  panel.sessionContext.kernelChanged.connect((_, change) => register(change.newValue));
}
