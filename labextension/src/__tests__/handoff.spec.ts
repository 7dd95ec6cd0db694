import { isProposal } from '../protocol';

const cell = {
  source: "sales['revenue'] = sales.price * sales.units",
  outputs: [],
  taste: [],
  provenance: { layer: 'build', build: 'b1', cell: 0, task: 't', model: 'm', verified: 'v', time: 'now' }
};

describe('a proposal from the kernel', () => {
  it('is taken when it has the shape the server sends', () => {
    expect(isProposal({ build: 'b1', summary: '', check: '', below: '', cells: [cell] })).toBe(true);
  });

  it('is refused when it does not', () => {
    expect(isProposal(null)).toBe(false);
    expect(isProposal({ cells: 'x = 1' })).toBe(false);
    expect(isProposal({ cells: [{ ...cell, source: 1 }] })).toBe(false);
    expect(isProposal({ cells: [{ source: 'x = 1' }] })).toBe(false);
  });
});
