/** The admin's limits and what the user spent, as the Status tab shows them (kept apart from the widget: tested with jest). */

export interface ISpending {
  user: string;
  limits: { allowed_providers: string[]; allowed_models: string[]; max_daily_cost: number; max_monthly_cost: number };
  spent: { today_usd: number; month_usd: number };
}

/** What the user may use and spend, and what they spent, as lines. */
export function spendingLines(spending: ISpending): string[] {
  const { limits, spent } = spending;
  const allowed = [
    limits.allowed_providers.length ? `providers ${limits.allowed_providers.join(', ')}` : '',
    limits.allowed_models.length ? `models ${limits.allowed_models.join(', ')}` : ''
  ].filter(Boolean);
  const cap = (amount: number) => (amount ? ` of $${amount.toFixed(amount >= 0.1 ? 2 : 4)}` : '');
  return [
    `Allowed: ${allowed.length ? allowed.join('; ') : 'any provider and model'}`,
    `${spending.user}: $${spent.today_usd.toFixed(4)} today${cap(limits.max_daily_cost)}, ` +
      `$${spent.month_usd.toFixed(4)} this month${cap(limits.max_monthly_cost)} (estimated)`
  ];
}
