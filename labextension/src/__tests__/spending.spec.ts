import { spendingLines } from '../spending';

describe('the spending lines', () => {
  it('say what is allowed, what was spent and the caps, in cents or in small sums', () => {
    expect(
      spendingLines({
        user: 'bob',
        limits: {
          allowed_providers: [],
          allowed_models: ['claude-haiku-*'],
          max_daily_cost: 0.003,
          max_monthly_cost: 5
        },
        spent: { today_usd: 0.0015, month_usd: 0.0215 }
      })
    ).toEqual([
      'Allowed: models claude-haiku-*',
      'bob: $0.0015 today of $0.0030, $0.0215 this month of $5.00 (estimated)'
    ]);
  });

  it('say nothing is limited when nothing is', () => {
    const lines = spendingLines({
      user: 'alice',
      limits: { allowed_providers: [], allowed_models: [], max_daily_cost: 0, max_monthly_cost: 0 },
      spent: { today_usd: 0, month_usd: 0 }
    });
    expect(lines).toEqual(['Allowed: any provider and model', 'alice: $0.0000 today, $0.0000 this month (estimated)']);
  });
});
