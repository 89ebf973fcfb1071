"use client";

import { useMemo, useState } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { RequireSignIn } from "@/components/RequireSignIn";
import type { Credentials } from "@/lib/auth";
import { count, perMillion } from "@/lib/format";
import { BADGES, useModels } from "@/lib/models";
import type { Model } from "@/lib/types";

export default function ModelsPage() {
  return <RequireSignIn>{(credentials) => <Catalog credentials={credentials} />}</RequireSignIn>;
}

function Catalog({ credentials }: { credentials: Credentials }) {
  const models = useModels(credentials);
  const [text, setText] = useState("");
  const [provider, setProvider] = useState("");
  const [required, setRequired] = useState<string[]>([]);

  const all = useMemo(() => models.data ?? [], [models.data]);
  const providers = useMemo(() => [...new Set(all.map((model) => model.provider))].sort(), [all]);
  const shown = all.filter(
    (model) =>
      (!provider || model.provider === provider) &&
      (!text || `${model.id} ${model.display_name ?? ""}`.toLowerCase().includes(text.toLowerCase())) &&
      required.every((label) => hasBadge(model, label)),
  );

  function toggle(label: string) {
    setRequired((current) => (current.includes(label) ? current.filter((item) => item !== label) : [...current, label]));
  }

  return (
    <>
      <div className="toolbar">
        <h1>Models</h1>
        <input name="search" placeholder="Search models" value={text} onChange={(event) => setText(event.target.value)} />
        <label className="inline">
          Provider
          <select name="provider" value={provider} onChange={(event) => setProvider(event.target.value)}>
            <option value="">all</option>
            {providers.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
        <span className="filters">
          {BADGES.map(({ label }) => (
            <label key={label} className="check">
              <input type="checkbox" name={`capability-${label}`} checked={required.includes(label)} onChange={() => toggle(label)} />
              {label}
            </label>
          ))}
        </span>
      </div>
      <ErrorNote error={models.error} />
      <p className="muted small">
        {shown.length} of {all.length} models · prices in USD per million tokens
      </p>
      <table className="table" data-testid="model-table">
        <thead>
          <tr>
            <th>Model</th>
            <th>Capabilities</th>
            <th className="number">Context</th>
            <th className="number">Max output</th>
            <th className="number">Input</th>
            <th className="number">Cached input</th>
            <th className="number">Output</th>
            <th>Availability</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((model) => (
            <tr key={model.id} data-model={model.id}>
              <td>
                <div className="mono">{model.id}</div>
                <div className="muted small">
                  {model.alias_for ? `alias for ${model.alias_for}` : model.display_name}
                  {model.retired ? " · retired" : null}
                </div>
              </td>
              <td>
                {BADGES.filter(({ label }) => hasBadge(model, label)).map(({ label }) => (
                  <span key={label} className={`badge cap-${label.toLowerCase()}`}>
                    {label}
                  </span>
                ))}
              </td>
              <td className="number">{count(model.context_window)}</td>
              <td className="number">{count(model.max_output_tokens)}</td>
              <td className="number">{perMillion(model.pricing?.input)}</td>
              <td className="number">{perMillion(model.pricing?.cached_input)}</td>
              <td className="number">{perMillion(model.pricing?.output)}</td>
              <td>{model.availability ?? "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function hasBadge(model: Model, label: string): boolean {
  const badge = BADGES.find((item) => item.label === label);
  return !!badge && badge.capabilities.some((capability) => model.capabilities.includes(capability));
}
